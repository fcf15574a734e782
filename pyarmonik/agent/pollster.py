"""The polling agent of one partition: claim, run, settle (and ack).

A claim (``processing.claim``, one store call) pops up to ``prefetch``
items, admits them, leases and acquires the runnable ones and starts the
first; the others wait DISPATCHED, their leases renewed, and are started
(one more call each) when their turn comes. DISPATCHED, not PROCESSING, so
that a waiting task is not shown running, counts no duration, and is
released without using a retry if this agent is lost or stops: starting it
in the previous task's finish would save that call, at the price of every
finish script starting a task of another session.

Invariants:
- a task is acked from the queue only after its outcome is written (commit,
  failure, retry or release; the store writes both in one step), so an
  agent dying at any point leaves the task leased, and the reaper recovers
  it when the lease expires;
- every end of an attempt is an ``Outcome`` handed to ``outcomes.settle``,
  the one place that decides what it means;
- from admission until its outcome is written (inputs fetched, worker
  call, results uploaded and committed) the lease is renewed (``leases``:
  one loop renews all of an agent's leases each heartbeat, and its reply
  says which tasks were cancelled or taken over): a cancel (CANCELLING) or
  a lost lease cancels the worker call;
- on stop (SIGTERM) the agent takes no new task and gives the running one
  ``grace_seconds`` to finish, then releases it without using a retry; the
  prefetched ones are released untouched.

It talks to its worker through the ``Worker`` port only: no transport here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyarmonik.agent import leases, task_context
from pyarmonik.agent.health import AgentHealth, AgentState
from pyarmonik.agent.worker import Worker
from pyarmonik.core import errors, ids, logcontext
from pyarmonik.lifecycle import outcomes, processing
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.lifecycle.outcomes import Outcome
from pyarmonik.storage import ports

log = logging.getLogger(__name__)

STORAGE_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class AgentConfig:
    partition_id: str
    data_root: Path
    agent_id: str = field(default_factory=lambda: f"agent-{socket.gethostname()}-{ids.new_id()[:8]}")
    hostname: str = field(default_factory=socket.gethostname)
    lease_seconds: float = 15.0
    heartbeat_seconds: float = 3.0
    grace_seconds: float = 5.0
    #: Most seconds an idle agent waits for a push before it claims again (a
    #: push wakes it at once; the claim again only bounds a lost wake-up, and
    #: costs Redis a call per idle agent each time).
    pop_timeout: float = 10.0
    #: Tasks claimed at once: the first runs, the others wait their turn.
    prefetch: int = 1


@dataclass
class _Running:
    """The task being run, and what became of it, for the stop log lines."""

    task_id: str
    settled: Outcome | None = None


class Pollster:
    def __init__(self, grid: Grid, worker: Worker, config: AgentConfig, *, health: AgentHealth | None = None) -> None:
        self.grid, self.worker, self.config = grid, worker, config
        self.health = health or AgentHealth()
        self._running: _Running | None = None
        #: Interrupts the running worker call (set while one runs).
        self._interrupt: Callable[[_End], None] | None = None
        #: Tasks a commit claimed for the next turn (one round trip per task).
        self._next: list[ports.Claim] = []
        self._stopped_with: _Running | None = None
        self._folders = task_context.DataFolders(config.data_root)
        self._leases = leases.Leases(
            grid.queue,
            config.partition_id,
            agent_id=config.agent_id,
            lease_seconds=config.lease_seconds,
            every=config.heartbeat_seconds,
        )

    async def run(self, stop: asyncio.Event) -> None:
        log.info("agent %s polls partition %s", self.config.agent_id, self.config.partition_id)
        announcer = asyncio.ensure_future(self._announce_stop(stop))
        renewer = asyncio.ensure_future(self._leases.run())
        storage = self.health.storage
        try:
            while not stop.is_set():
                try:
                    await self._poll_once(stop)
                except Exception as exc:
                    if not errors.is_transient(exc):
                        raise
                    # A task we held comes back through its lease if we could not write its outcome.
                    storage.failed(f"agent {self.config.agent_id}", exc)
                    await _wait(stop, STORAGE_RETRY_SECONDS)
                else:
                    storage.reached(f"agent {self.config.agent_id} resumes polling")
            await self._release_next()
        finally:
            if stop.is_set() and not announcer.done():
                await announcer  # stop came as the loop ended: still say so first
            announcer.cancel()
            renewer.cancel()
            self._folders.close()
            self.health.state = AgentState.STOPPED
        log.info("agent %s stopped: %s", self.config.agent_id, self._stop_summary())

    async def _announce_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.health.state = AgentState.DRAINING
        running, agent_id = self._running, self.config.agent_id
        if running is None:
            log.info("agent %s stopping: no new tasks; idle", agent_id)
            return
        self._stopped_with = running
        grace = self.config.grace_seconds
        log.info("agent %s stopping: no new tasks; task %s gets up to %s s to finish", agent_id, running.task_id, grace)
        if self._interrupt is not None:
            self._schedule_stop(self._interrupt)

    def _stop_summary(self) -> str:
        running = self._stopped_with
        if running is None:
            return "no task was running"
        if running.settled is Outcome.RELEASED:
            return f"task {running.task_id} released to the queue (no retry used)"
        if running.settled is None:
            return f"task {running.task_id} left to its lease"
        return f"task {running.task_id} finished ({running.settled.value})"

    async def _poll_once(self, stop: asyncio.Event) -> None:
        self.health.waiting_for_worker()
        if not await self.worker.wait_ready(stop):
            return
        self.health.worker_ready()
        if self.health.state is AgentState.STARTING:
            self.health.state = AgentState.IDLE
        claims, self._next = self._next, []
        if not claims:
            claims = await processing.claim(
                self.grid,
                self.config.partition_id,
                agent_id=self.config.agent_id,
                hostname=self.config.hostname,
                lease_seconds=self.config.lease_seconds,
                count=self.config.prefetch,
                start_first=True,
                timeout=self.config.pop_timeout,
                stop=stop,
            )
        held: list[tuple[ports.Claim, leases.Held]] = []
        for claim in claims:
            if claim.lease is None or claim.task is None:
                log.debug("task %s not run: %s", claim.task_id, claim.admission.value)
                continue
            held.append((claim, self._leases.hold(claim.lease)))
        try:
            for turn, (claim, lease) in enumerate(held):
                if stop.is_set():  # claimed as we stopped, or waiting its turn: back at once, untouched
                    await self._release_untouched(claim, lease)
                else:
                    # The last task of the batch, once committed, claims the next batch in the same step.
                    await self._handle(claim, lease, stop, started=turn == 0, claim_next=turn == len(held) - 1)
        finally:
            for _, lease in held:
                self._leases.drop(lease)

    async def _release_next(self) -> None:
        """Tasks the last commit claimed for a turn that never comes (the
        agent stops): back to the queue at once, no retry used."""
        claims, self._next = self._next, []
        for claim in claims:
            if claim.lease is not None and claim.task is not None:
                await self._release_untouched(claim, self._leases.hold(claim.lease))

    def _next_claim(self) -> ports.NextClaim:
        return ports.NextClaim(
            self.config.partition_id,
            self.config.agent_id,
            self.config.hostname,
            self.config.lease_seconds,
            count=self.config.prefetch,
        )

    async def _release_untouched(self, claim: ports.Claim, lease: leases.Held) -> None:
        assert claim.task is not None
        await outcomes.settle(
            self.grid,
            claim.task,
            Outcome.RELEASED,
            agent_id=self.config.agent_id,
            message="agent stopping",
            lease=lease.lease,
        )
        self._leases.drop(lease)

    async def _handle(
        self, claim: ports.Claim, lease: leases.Held, stop: asyncio.Event, *, started: bool, claim_next: bool
    ) -> None:
        assert claim.task is not None
        with logcontext.bind(session_id=claim.task.session_id, task_id=claim.task_id):
            await self._run(claim, lease, stop, started=started, claim_next=claim_next)
        # Settled (the outcome's write acked the lease), or LOST (nothing
        # written: the lease is gone or another agent's now).
        self._leases.drop(lease)

    async def _run(
        self, claim: ports.Claim, lease: leases.Held, stop: asyncio.Event, *, started: bool, claim_next: bool
    ) -> Outcome | None:
        assert claim.task is not None
        self._running = running = _Running(claim.task_id)
        if not stop.is_set():
            self.health.state = AgentState.BUSY
        if stop.is_set():  # stopped while admitting it: the stop line said idle, but this task gets the grace
            self._stopped_with = running
        try:
            with task_context.attempt(self.grid, claim.task, folders=self._folders) as ctx:
                ctx.known_inputs = dict(claim.inputs)
                ctx.known_data = dict(claim.data)
                reply = await self._attempt(ctx, lease, stop, started=started)
                if reply is not None:
                    next_claim = self._next_claim() if claim_next and not stop.is_set() else None
                    running.settled = await outcomes.settle(
                        self.grid,
                        ctx.task,
                        reply.outcome,
                        agent_id=self.config.agent_id,
                        message=reply.message,
                        files=ctx.files,
                        commit=ctx.commit(),
                        lease=lease.lease,
                        next_claim=next_claim,
                    )
                    if next_claim is not None:
                        self._next = next_claim.claims
                    # After the outcome is written (a TIMEOUT is not held up by a restart):
                    # a call that did not end cleanly may still run in the worker.
                    if reply.outcome not in (Outcome.OK, Outcome.ERROR):
                        await self.worker.recover()
            return running.settled
        finally:
            self._running = None
            if self.health.state is AgentState.BUSY:
                self.health.state = AgentState.IDLE

    async def _attempt(
        self, ctx: task_context.TaskContext, lease: leases.Held, stop: asyncio.Event, *, started: bool
    ) -> _End | None:
        """Fetches the inputs, starts the task (unless the claim did) and
        runs it; ``None`` when there is nothing to settle (cancelled before
        it started)."""
        try:
            for result_id in dict.fromkeys(ctx.task.dependencies):
                await ctx.fetch(result_id)
            if not started:
                begun = await processing.start(self.grid, ctx.task, agent_id=self.config.agent_id, lease=lease.lease)
                if begun is None:
                    return None  # cancelled while it waited; the start finished the cancellation
                ctx.task = begun
        except errors.PyArmoniKError as exc:
            log.warning("task %s: %s", ctx.task.task_id, exc.message)
            return _End(Outcome.CRASH, exc.message)
        return await self._process(ctx, lease, stop)

    async def _process(self, ctx: task_context.TaskContext, lease: leases.Held, stop: asyncio.Event) -> _End:
        """Runs the worker call; a lease renewal that finds the task cancelled
        or lost, or the agent's stop (after the grace delay), interrupts it."""
        if lease.state is not ports.LeaseState.HELD:
            return _INTERRUPTIONS[lease.state]
        call = asyncio.ensure_future(self.worker.process(ctx, timeout=ctx.task.options.max_duration))
        interrupted: list[_End] = []

        def interrupt(end: _End) -> None:
            if not call.done() and not interrupted:
                interrupted.append(end)
                if end.outcome is not Outcome.RELEASED:  # a stop says so in its own lines
                    log.info("task %s interrupted: %s", ctx.task.task_id, end.message)
                call.cancel()

        lease.on_change = lambda state: interrupt(_INTERRUPTIONS[state])
        self._interrupt = interrupt
        if stop.is_set():
            self._schedule_stop(interrupt)
        try:
            replied = await call
            reply = _End(replied.outcome, replied.message)
        except asyncio.CancelledError:
            if not interrupted:
                raise  # we are being cancelled ourselves
            reply = interrupted[0]
        finally:
            lease.on_change = None
            self._interrupt = None
        return reply

    def _schedule_stop(self, interrupt: Callable[[_End], None]) -> None:
        """The agent stops: the running call gets the grace delay, then is
        interrupted (the task released without using a retry)."""
        asyncio.get_running_loop().call_later(
            self.config.grace_seconds, interrupt, _End(Outcome.RELEASED, "agent stopping")
        )


@dataclass(frozen=True, slots=True)
class _End:
    """How an attempt ended as the pollster saw it: a worker's reply, or an
    interruption only the agent can see (CANCELLED, LOST, RELEASED). Not a
    ``WorkerReply``: a worker cannot report those."""

    outcome: Outcome
    message: str = ""


#: What a renewal's finding means for the running call.
_INTERRUPTIONS = {
    ports.LeaseState.CANCELLING: _End(Outcome.CANCELLED, "cancelled while running"),
    ports.LeaseState.LOST: _End(Outcome.LOST, "lease lost (expired and reaped, or taken over)"),
}


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleeps ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
