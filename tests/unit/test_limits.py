"""The client API's limits: counts, lengths and sizes, each naming its setting."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pyarmonik import settings
from pyarmonik.core import errors, limits
from pyarmonik.core.filters import Condition, ListQuery, Op, ValueKind, apply, in_sessions, session_ids_in
from pyarmonik.core.models import Session, TaskOptions
from pyarmonik.core.statuses import SessionStatus
from pyarmonik.storage.redis import records

LIMITS = settings.LimitSettings.model_construct(max_tasks_per_request=2, max_id_length=4).limits()


def test_counts_and_lengths_above_their_limit_are_invalid_arguments_naming_the_setting() -> None:
    limits.check_count(LIMITS.tasks_per_request, 2, what="tasks")
    with pytest.raises(errors.InvalidArgument, match="--max-tasks-per-request or PYARMONIK_MAX_TASKS_PER_REQUEST"):
        limits.check_count(LIMITS.tasks_per_request, 3, what="tasks")
    with pytest.raises(errors.InvalidArgument, match="5 characters long: the limit is 4"):
        limits.check_ids(LIMITS.id_length, ["ok", "toolong"[:5]], what="name")


def test_task_options_count_every_name_and_value_in_utf8_bytes() -> None:
    options = TaskOptions(partition_id="p", application_name="app", options={"k": "é" * 10})
    size_limit = settings.LimitSettings.model_construct(max_task_options_size=25).limits().task_options_size

    assert limits.options_size(options) == 1 + 3 + 1 + 20
    limits.check_options_size(size_limit, options, what="t")
    options.options["k2"] = ""
    with pytest.raises(errors.InvalidArgument, match=r"27 bytes.*--max-task-options-size"):
        limits.check_options_size(size_limit, options, what="t")


async def test_a_stream_is_refused_as_soon_as_its_total_passes_the_limit() -> None:
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"x" * 10

    with pytest.raises(errors.ResourceExhausted, match="larger than 25 bytes"):
        async for _ in limits.bounded(limits.Limit(25, "--x"), chunks(), what="data"):
            pass
    assert pulled == 3


def test_no_limit_is_set_by_default() -> None:
    limits.check_count(limits.Limits().tasks_per_request, 10**9, what="tasks")


def test_the_in_operator_pins_sessions_and_matches_its_values() -> None:
    sessions = [Session(s, SessionStatus.RUNNING, TaskOptions(), [], 0.0) for s in "abc"]
    where = ((in_sessions(frozenset({"a", "c"})), Condition("session_id", ValueKind.STRING, Op.NE, "c")),)

    assert [s.session_id for s in apply(sessions, ListQuery(where=where)).items] == ["a"]
    assert session_ids_in(where) == {"a", "c"}
    assert (
        session_ids_in(((in_sessions(frozenset({"a"})), Condition("session_id", ValueKind.STRING, Op.EQ, "b")),))
        == set()
    )


def test_a_session_record_keeps_its_owner_and_reads_none_as_no_owner() -> None:
    session = Session("s", SessionStatus.RUNNING, TaskOptions(), ["p"], 1.0, owner="alice")
    status, client, worker, rest = records.session_fields(session)
    stored = {b"status": status.encode(), b"client": client.encode(), b"worker": worker.encode()}
    stored[b"json"] = rest.encode()
    without = {**stored, b"json": b'{"partition_ids": ["p"], "created_at": 1.0}'}

    assert records.decode_session("s", stored) == session
    assert records.decode_session("s", without).owner == ""


class _Context:
    def __init__(self, peer: str) -> None:
        self._peer = peer

    def peer(self) -> str:
        return self._peer


@pytest.mark.parametrize(
    ("caller", "peer", "client"),
    [
        (None, "ipv4:10.0.0.1:5555", "host ipv4:10.0.0.1"),
        (None, "ipv6:[::1]:5555", "host ipv6:[::1]"),
        ("alice", "ipv4:10.0.0.1:5555", "user alice"),
    ],
)
async def test_streams_count_against_the_user_else_the_host(caller: str | None, peer: str, client: str) -> None:
    from pyarmonik.control_plane.limits_interceptor import client_of
    from pyarmonik.core import identity

    identity.set_current(identity.Identity(caller) if caller else identity.ANONYMOUS)

    assert client_of(_Context(peer)) == client  # type: ignore[arg-type]
