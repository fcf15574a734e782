"""No number of event streams starves the other callers of the grid.

Each GetEvents stream held a pooled Redis connection of its own: one
client's burst exhausted the pool (100 connections) before its stream limit
(100 per user), and every other caller's Redis calls failed UNAVAILABLE
("Too many connections"). Streams now share one subscription per process.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import EventTypes, TaskDefinition
from armonik.protogen.client.events_service_pb2_grpc import EventsStub
from armonik.protogen.common import events_common_pb2

from ..conftest import default_options

LIMIT = 100  # --max-event-streams-per-client's default: the mTLS grid's
BURST = 150  # more than the limit, and than Redis' connection pool (100)


def new_session(channel: grpc.Channel) -> str:
    session_id = ArmoniKSessions(channel).create_session(default_options(), partition_ids=["default"])
    ArmoniKResults(channel).create_results({"replayed": b"x"}, session_id)  # each stream replays it first
    return session_id


def open_streams(channel: grpc.Channel, session_id: str, count: int) -> tuple[list[Iterator], list[grpc.RpcError]]:
    """``count`` GetEvents streams started at once; those the server opened
    (each replayed its first event) and the refusals."""
    request = events_common_pb2.EventSubscriptionRequest(session_id=session_id)
    streams = [EventsStub(channel).GetEvents(request) for _ in range(count)]
    opened, refused = [], []
    for stream in streams:
        try:
            next(stream)
            opened.append(stream)
        except grpc.RpcError as error:
            refused.append(error)
    return opened, refused


def work(channel: grpc.Channel) -> None:
    """A user's ordinary calls: each reaches Redis."""
    session_id = new_session(channel)
    results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
    payload = results.create_results({"payload": b"p"}, session_id)["payload"].result_id
    output = results.create_results_metadata(["out"], session_id)["out"].result_id
    tasks.submit_tasks(session_id, [TaskDefinition(payload_id=payload, expected_output_ids=[output])])
    results.upload_result_data(output, session_id, b"done")
    assert results.download_result_data(output, session_id) == b"done"
    assert tasks.list_tasks()[0] >= 1
    seen: list[str] = []
    ArmoniKEvents(channel).get_events(
        session_id, [EventTypes.NEW_RESULT], [lambda _s, _t, event: seen.append(event.result_id) or True]
    )
    assert seen


def test_a_burst_of_streams_from_one_user_leaves_other_users_working(channels: dict[str, grpc.Channel]) -> None:
    alice, bob = channels["alice"], channels["bob"]
    opened, refused = open_streams(alice, new_session(alice), BURST)
    try:
        assert [e.code() for e in refused] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * (BURST - LIMIT)  # type: ignore[attr-defined]
        assert all("--max-event-streams-per-client" in str(e.details()) for e in refused)  # type: ignore[attr-defined]
        assert len(opened) == LIMIT

        work(bob)
        bob_opened, bob_refused = open_streams(bob, new_session(bob), 10)
        for stream in bob_opened:
            stream.cancel()  # type: ignore[attr-defined]
        assert len(bob_opened) == 10 and not bob_refused
    finally:
        for stream in opened:
            stream.cancel()  # type: ignore[attr-defined]
