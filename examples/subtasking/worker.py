"""Subtasking worker, written with the official ArmoniK worker SDK only.

A ``split`` task computes the sum of squares of its values without doing the
work itself: it submits one ``square`` child per value, then a ``sum`` task
that depends on every square and takes over the split task's own expected
output (ArmoniK's delegation: the result's owner moves to the child).
"""

import json

from armonik.common import Output, TaskDefinition
from armonik.worker import TaskHandler, armonik_worker


def split(handler: TaskHandler, values: list[int]) -> None:
    squares = handler.create_results_metadata([f"square-{i}" for i in range(len(values))])
    payloads = handler.create_results(
        {f"square-payload-{i}": json.dumps({"op": "square", "value": v}).encode() for i, v in enumerate(values)}
        | {"sum-payload": json.dumps({"op": "sum"}).encode()},
        batch_size=100,
    )
    children = [
        TaskDefinition(
            payload_id=payloads[f"square-payload-{i}"].result_id,
            expected_output_ids=[squares[f"square-{i}"].result_id],
        )
        for i in range(len(values))
    ]
    children.append(
        TaskDefinition(
            payload_id=payloads["sum-payload"].result_id,
            expected_output_ids=handler.expected_results,
            data_dependencies=[r.result_id for r in squares.values()],
        )
    )
    handler.submit_tasks(children)


@armonik_worker()
def processor(handler: TaskHandler) -> Output:
    job = json.loads(handler.payload)
    output_id = handler.expected_results[0]
    if job["op"] == "split":
        split(handler, job["values"])
    elif job["op"] == "square":
        handler.send_results({output_id: json.dumps(job["value"] ** 2).encode()})
    elif job["op"] == "sum":
        total = sum(json.loads(handler.data_dependencies[d]) for d in handler.data_dependencies)
        handler.send_results({output_id: json.dumps(total).encode()})
    else:
        return Output(f"unknown operation {job['op']!r}")
    return Output()


if __name__ == "__main__":
    processor.run()
