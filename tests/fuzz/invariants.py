"""What must hold after every fuzzed call, and the count of calls by status.

(a) the server still answers a ``grpc.health.v1`` check;
(b) the status is precise: never UNKNOWN or INTERNAL, never a deadline
    (a hang), never UNAVAILABLE from the control plane (its storage,
    a local Redis, is up), never a status gRPC made up
    itself (a reset stream, details too large for their header), and
    RESOURCE_EXHAUSTED only naming one of the grid's limits;
(c) a call that failed, or that the caller cut, changed nothing: sessions,
    tasks and results by status are the same before and after.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pyarmonik.core import filters
from pyarmonik.core.statuses import SessionStatus
from pyarmonik.storage import ports
from tests.fuzz import rpcs
from tests.grid_thread import GridThread

IMPRECISE = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED})

#: How gRPC itself words the statuses it makes up (a reset stream, an oversized header).
TRANSPORT = ("Stream removed", "Received RST_STREAM", "Socket closed", "Received message larger than max")

Snapshot = tuple[tuple[tuple[str, int], ...], ...]


@dataclass
class Tally:
    """Calls per RPC and status label, for the run's report."""

    calls: dict[str, Counter[str]] = field(default_factory=dict)
    seconds: Counter[str] = field(default_factory=Counter)

    def count(self, rpc: str, label: str) -> None:
        self.calls.setdefault(rpc, Counter())[label] += 1

    @contextlib.contextmanager
    def timed(self, what: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[what] += time.perf_counter() - started

    @property
    def total(self) -> int:
        return sum(sum(c.values()) for c in self.calls.values())

    def lines(self) -> list[str]:
        return [
            f"{rpc} {sum(c.values())} ({', '.join(f'{label} {n}' for label, n in c.most_common())})"
            for rpc, c in sorted(self.calls.items())
        ]

    def write(self, path: pathlib.Path, seconds: float) -> None:
        report = {
            "calls": self.total,
            "seconds": round(seconds, 1),
            "rpcs": {k: dict(v) for k, v in self.calls.items()},
        }
        path.write_text(json.dumps(report, indent=2, sort_keys=True))


TALLY = Tally()


def snapshot(grid: GridThread) -> Snapshot:
    """Sessions, tasks and results by status (and tasks by partition)."""

    async def sessions(state: ports.StateStore) -> tuple[tuple[str, int], ...]:
        """Redis reads every session for any listing: one listing, counted here."""
        listed = await state.list_sessions(query=filters.ListQuery(page_size=10**9))
        found = Counter(s.status.name for s in listed.items)
        return tuple((status.name, found[status.name]) for status in SessionStatus)

    async def read() -> Snapshot:
        state = grid.grid.state
        counts = await state.status_counts()
        return (
            await sessions(state),
            tuple(sorted((f"{p}/{s.name}", n) for (p, s), n in counts.tasks.items() if n)),
            tuple(sorted((s.name, n) for s, n in counts.results.items() if n)),
        )

    return grid.run(read())


def alive(channel: grpc.Channel) -> None:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=rpcs.CALL_TIMEOUT)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING, reply


@dataclass
class Target:
    """A server to fuzz: the channel to it, the grid behind it, and what
    else a failed call must leave unchanged (the agent's buffers)."""

    channel: grpc.Channel
    grid: GridThread
    health: grpc.Channel
    unavailable_ok: bool = False
    extra_state: Callable[[], object] = lambda: None


def exercise(
    target: Target,
    rpc: rpcs.Rpc,
    requests: Sequence[Message | bytes],
    *,
    cut: bool = False,
    read: int | None = None,
    raw: bool = False,
) -> rpcs.Outcome:
    """Calls ``rpc`` and checks the invariants; raises AssertionError naming
    the breach. With ``raw``, ``requests`` are bodies sent as they are."""
    with TALLY.timed("checks"):
        before = snapshot(target.grid), target.extra_state()
    with TALLY.timed("calls"):
        outcome = rpcs.call(target.channel, rpc, requests, cut=cut, read=read, raw=raw)
    TALLY.count(f"{rpc.name} (malformed)" if raw else rpc.name, outcome.label)
    shown = f"{rpc.name} -> {outcome.code.name}: {outcome.details}"
    assert outcome.code not in IMPRECISE, f"imprecise status: {shown}"
    assert not outcome.details.startswith(TRANSPORT), f"gRPC's own status, not the grid's: {shown}"
    if outcome.code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        assert "limit" in outcome.details, f"RESOURCE_EXHAUSTED naming no limit: {shown}"
    if not target.unavailable_ok:
        assert outcome.code is not grpc.StatusCode.UNAVAILABLE, f"the grid's storage is up: {shown}"
    with TALLY.timed("checks"):
        alive(target.health)
        if outcome.code is not grpc.StatusCode.OK or outcome.closed == "CUT":
            after = snapshot(target.grid), target.extra_state()
            assert after == before, f"partial state after {shown}: {before} -> {after}"
    return outcome
