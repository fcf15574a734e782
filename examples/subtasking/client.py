"""Subtasking client, written with the official ArmoniK client only.

Asks for the sum of squares of some numbers; the worker fans out one task per
number and delegates its output to an aggregation task:
``python examples/subtasking/client.py --endpoint localhost:5001 1 2 3``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta

import grpc
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import TaskDefinition, TaskOptions

OPTIONS = TaskOptions(max_duration=timedelta(seconds=60), priority=1, max_retries=2, partition_id="subtasking")


def submit(channel: grpc.Channel, values: list[int]) -> tuple[str, str]:
    """Returns the session id and the id of the result holding the sum."""
    session_id = ArmoniKSessions(channel).create_session(OPTIONS, partition_ids=[OPTIONS.partition_id])
    results = ArmoniKResults(channel)
    payload = results.create_results({"split": json.dumps({"op": "split", "values": values}).encode()}, session_id)
    output = results.create_results_metadata(["sum-of-squares"], session_id)["sum-of-squares"]
    ArmoniKTasks(channel).submit_tasks(
        session_id, [TaskDefinition(payload_id=payload["split"].result_id, expected_output_ids=[output.result_id])]
    )
    return session_id, output.result_id


def collect(channel: grpc.Channel, session_id: str, output_id: str) -> int:
    return json.loads(ArmoniKResults(channel).download_result_data(output_id, session_id))


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", default="localhost:5001", help="the grid's address (default localhost:5001)")
    parser.add_argument("values", nargs="*", type=int, default=[1, 2, 3, 4])
    return parser


def main() -> None:
    args = parser().parse_args()
    with grpc.insecure_channel(args.endpoint) as channel:
        session_id, output_id = submit(channel, args.values)
        ArmoniKEvents(channel).wait_for_result_availability(output_id, session_id)
        print(f"sum of squares of {args.values} = {collect(channel, session_id, output_id)}")
        ArmoniKSessions(channel).close_session(session_id)


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as error:  # a grid's refusal says what is wrong: say it in one line
        sys.exit(f"subtasking client: {error.code().name}: {error.details()}")
