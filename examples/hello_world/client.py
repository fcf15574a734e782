"""Hello-world client, written with the official ArmoniK client only.

Submits one task per name and prints the greetings:
``python examples/hello_world/client.py --endpoint localhost:5001 Alice Bob``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

import grpc
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import TaskDefinition, TaskOptions

OPTIONS = TaskOptions(max_duration=timedelta(seconds=60), priority=1, max_retries=2, partition_id="default")


def submit(channel: grpc.Channel, names: list[str]) -> tuple[str, dict[str, str]]:
    """Creates a session and one task per name; returns the session id and
    the output result id of each name."""
    session_id = ArmoniKSessions(channel).create_session(OPTIONS, partition_ids=[OPTIONS.partition_id])
    results = ArmoniKResults(channel)
    payloads = results.create_results({f"payload-{n}": n.encode() for n in names}, session_id, batch_size=100)
    outputs = results.create_results_metadata([f"greeting-{n}" for n in names], session_id)
    ArmoniKTasks(channel).submit_tasks(
        session_id,
        [
            TaskDefinition(
                payload_id=payloads[f"payload-{n}"].result_id,
                expected_output_ids=[outputs[f"greeting-{n}"].result_id],
            )
            for n in names
        ],
    )
    return session_id, {n: outputs[f"greeting-{n}"].result_id for n in names}


def collect(channel: grpc.Channel, session_id: str, outputs: dict[str, str]) -> dict[str, str]:
    results = ArmoniKResults(channel)
    return {n: results.download_result_data(r, session_id).decode() for n, r in outputs.items()}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", default="localhost:5001", help="the grid's address (default localhost:5001)")
    parser.add_argument("names", nargs="*", default=["World"])
    return parser


def main() -> None:
    args = parser().parse_args()
    with grpc.insecure_channel(args.endpoint) as channel:
        session_id, outputs = submit(channel, args.names)
        ArmoniKEvents(channel).wait_for_result_availability(list(outputs.values()), session_id)
        for greeting in collect(channel, session_id, outputs).values():
            print(greeting)
        ArmoniKSessions(channel).close_session(session_id)


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as error:  # a grid's refusal says what is wrong: say it in one line
        sys.exit(f"hello_world client: {error.code().name}: {error.details()}")
