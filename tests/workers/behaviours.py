"""A test worker written with the official ``armonik.worker`` SDK only.

The payload is JSON ``{"do": BEHAVIOUR, ...}``; each behaviour exercises one
part of the agent protocol or one failure. ``"work": SECONDS`` makes any of
them take that long first, as a task that computes would. Run by the grid as
``python tests/workers/behaviours.py``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from armonik.common import Output, TaskDefinition
from armonik.worker import TaskHandler, armonik_worker

GATE_TIMEOUT = 60.0


def echo(handler: TaskHandler, job: dict) -> Output:
    """Writes the job's ``value`` to every expected output."""
    handler.send_results({r: json.dumps(job.get("value")).encode() for r in handler.expected_results})
    return Output()


def diagram(handler: TaskHandler, job: dict) -> Output:
    """ArmoniK's agent/worker diagram: CreateResults (with data),
    CreateResultsMetaData, NotifyResultData of a file on disk, SubmitTasks
    of a child that sums both and takes over our expected output."""
    with_data = handler.create_results({"inline": json.dumps(job["a"]).encode()})["inline"]
    [on_disk] = handler.create_results_metadata(["on-disk"]).values()
    # The SDK writes the file into the data folder, then notifies the agent.
    handler.send_results({on_disk.result_id: json.dumps(job["b"]).encode()})
    child_payload = handler.create_results({"sum": json.dumps({"do": "sum"}).encode()})["sum"]
    handler.submit_tasks(
        [
            TaskDefinition(
                payload_id=child_payload.result_id,
                expected_output_ids=handler.expected_results,
                data_dependencies=[with_data.result_id, on_disk.result_id],
            )
        ]
    )
    return Output()


def sum_dependencies(handler: TaskHandler, job: dict) -> Output:
    total = sum(json.loads(handler.data_dependencies[d]) for d in handler.data_dependencies)
    handler.send_results({r: json.dumps(total).encode() for r in handler.expected_results})
    return Output()


def fail(handler: TaskHandler, job: dict) -> Output:
    return Output(job.get("message", "failed on purpose"))


def crash(handler: TaskHandler, job: dict) -> Output:
    """Kills the worker process mid-task, on every attempt or only the first."""
    if job.get("always") or "###" not in handler.task_id:
        os._exit(3)
    return echo(handler, job)


def raise_error(handler: TaskHandler, job: dict) -> Output:
    raise RuntimeError("an exception in the user's code")


def wait_gate(handler: TaskHandler, job: dict) -> Output:
    """Blocks until the file ``job["gate"]`` exists (bounded), then echoes;
    also records the order tasks started in ``job["log"]``."""
    if "log" in job:
        with open(job["log"], "a") as log:
            log.write(json.dumps(job.get("value")) + "\n")
    deadline = time.monotonic() + job.get("timeout", GATE_TIMEOUT)
    while "gate" in job and not Path(job["gate"]).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return echo(handler, job)


def resource(handler: TaskHandler, job: dict) -> Output:
    """GetResourceData of a result that is not a dependency."""
    data = handler.get_resource_data(job["result_id"])
    handler.send_results({r: data for r in handler.expected_results})
    return Output()


def where(handler: TaskHandler, job: dict) -> Output:
    """Reports the data folder and token it was given, and whether its
    payload file is in that folder."""
    seen = {
        "data_folder": handler.data_folder,
        "token": handler.token,
        "payload_there": os.path.isfile(os.path.join(handler.data_folder, handler.payload_id)),
    }
    handler.send_results({r: json.dumps(seen).encode() for r in handler.expected_results})
    return Output()


BEHAVIOURS = {
    "echo": echo,
    "diagram": diagram,
    "sum": sum_dependencies,
    "fail": fail,
    "crash": crash,
    "raise": raise_error,
    "wait": wait_gate,
    "resource": resource,
    "where": where,
}


@armonik_worker()
def processor(handler: TaskHandler) -> Output:
    job = json.loads(handler.payload)
    time.sleep(job.get("work", 0))
    return BEHAVIOURS[job["do"]](handler, job)


if __name__ == "__main__":
    processor.run()
