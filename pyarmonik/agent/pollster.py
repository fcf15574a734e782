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
  agent dying at any point leaves the item leased, and the reaper recovers
  it when the lease expires;
- every end of an attempt is an ``Outcome`` handed to ``outcomes.settle``,
  the one place that decides what it means;
- from admission until its outcome is written (inputs fetched, worker
  call, results uploaded and committed) the lease is renewed
  (``heartbeat.LeaseKeeper``); while the worker runs, the task is watched:
  a cancel (CANCELLING) or a lost lease cancels the worker call;
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
from dataclasses import dataclass, field
from pathlib import Path

from pyarmonik.agent import heartbeat, task_context
from pyarmonik.agent.health import AgentHealth, AgentState
from pyarmonik.agent.worker import Worker, WorkerReply
from pyarmonik.core import errors, ids, logcontext
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import TaskStatus
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
    pop_timeout: float = 1.0
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
        self._stopped_with: _Running | None = None
        self._folders = task_context.DataFolders(config.data_root)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("agent %s polls partition %s", self.config.agent_id, self.config.partition_id)
        announcer = asyncio.ensure_future(self._announce_stop(stop))
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
        finally:
            if stop.is_set() and not announcer.done():
                await announcer  # stop came as the loop ended: still say so first
            announcer.cancel()
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
        claims = await processing.claim(
            self.grid,
            self.config.partition_id,
            agent_id=self.config.agent_id,
            hostname=self.config.hostname,
            lease_seconds=self.config.lease_seconds,
            count=self.config.prefetch,
            start_first=True,
            timeout=self.config.pop_timeout,
        )
        held: list[tuple[ports.Claim, heartbeat.LeaseKeeper]] = []
        for claim in claims:
            if claim.lease is None or claim.task is None:
                log.debug("task %s not run: %s", claim.task_id, claim.admission.value)
                continue
            keeper = heartbeat.LeaseKeeper(
                self.grid.queue,
                claim.lease,
                lease_seconds=self.config.lease_seconds,
                every=self.config.heartbeat_seconds,
                agent_id=self.config.agent_id,
            )
            held.append((claim, await keeper.__aenter__()))
        try:
            for turn, (claim, keeper) in enumerate(held):
                if stop.is_set():  # claimed as we stopped, or waiting its turn: back at once, untouched
                    await self._release_untouched(claim, keeper)
                else:
                    await self._handle(claim, keeper, stop, started=turn == 0)
        finally:
            for _, keeper in held:
                await keeper.stop()

    async def _release_untouched(self, claim: ports.Claim, keeper: heartbeat.LeaseKeeper) -> None:
        assert claim.task is not None
        await outcomes.settle(
            self.grid,
            claim.task,
            Outcome.RELEASED,
            agent_id=self.config.agent_id,
            message="agent stopping",
            lease=keeper.lease,
        )
        await keeper.stop()

    async def _handle(
        self, claim: ports.Claim, keeper: heartbeat.LeaseKeeper, stop: asyncio.Event, *, started: bool
    ) -> None:
        assert claim.task is not None
        with logcontext.bind(session_id=claim.task.session_id, task_id=claim.task_id):
            settled = await self._run(claim, keeper, stop, started=started)
        await keeper.stop()
        if settled is Outcome.LOST:
            # Nothing was written, so no store step acked the item: dropped
            # here (not in a ``finally``: after an error the lease must
            # expire, so the reaper settles the task).
            await self.grid.queue.ack(keeper.lease)

    async def _run(
        self, claim: ports.Claim, keeper: heartbeat.LeaseKeeper, stop: asyncio.Event, *, started: bool
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
                reply = await self._attempt(ctx, keeper, stop, started=started)
                if reply is not None:
                    running.settled = await outcomes.settle(
                        self.grid,
                        ctx.task,
                        reply.outcome,
                        agent_id=self.config.agent_id,
                        message=reply.message,
                        files=ctx.files,
                        commit=ctx.commit(),
                        lease=keeper.lease,
                    )
            return running.settled
        finally:
            self._running = None
            if self.health.state is AgentState.BUSY:
                self.health.state = AgentState.IDLE

    async def _attempt(
        self, ctx: task_context.TaskContext, keeper: heartbeat.LeaseKeeper, stop: asyncio.Event, *, started: bool
    ) -> _End | None:
        """Fetches the inputs, starts the task (unless the claim did) and
        runs it; ``None`` when there is nothing to settle (cancelled before
        it started)."""
        try:
            for result_id in dict.fromkeys(ctx.task.dependencies):
                await ctx.fetch(result_id)
            if not started:
                begun = await processing.start(self.grid, ctx.task, agent_id=self.config.agent_id, lease=keeper.lease)
                if begun is None:
                    return None  # cancelled while it waited; the start finished the cancellation
                ctx.task = begun
        except errors.PyArmoniKError as exc:
            log.warning("task %s: %s", ctx.task.task_id, exc.message)
            return _End(Outcome.CRASH, exc.message)
        return await self._process(ctx, keeper, stop)

    async def _process(self, ctx: task_context.TaskContext, keeper: heartbeat.LeaseKeeper, stop: asyncio.Event) -> _End:
        call = asyncio.ensure_future(self.worker.process(ctx, timeout=ctx.task.options.max_duration))
        watcher = asyncio.ensure_future(self._watch(ctx.task, keeper, call))
        stopper = asyncio.ensure_future(self._on_stop(stop, call))
        try:
            replied = await call
            reply = _End(replied.outcome, replied.message)
        except asyncio.CancelledError:
            if call.cancelled() and not watcher.done() and not stopper.done():
                raise  # we are being cancelled ourselves
            reply = watcher.result() if watcher.done() else _End(Outcome.RELEASED, "agent stopping")
        finally:
            watcher.cancel()
            stopper.cancel()
        if reply.outcome not in (Outcome.OK, Outcome.ERROR):
            await self.worker.recover()
        return reply

    async def _watch(self, task: Task, keeper: heartbeat.LeaseKeeper, call: asyncio.Future[WorkerReply]) -> _End:
        """Cancels the call when the task is cancelled, taken over or its
        lease lost; checked every heartbeat. A storage outage is waited out
        (the keeper reports it): the lease decides, when storage is back,
        whether the task is still ours."""
        while True:
            if await keeper.lost_within(self.config.heartbeat_seconds):
                interruption: _End | None = _End(Outcome.LOST, "lease lost (expired and reaped)")
            else:
                try:
                    interruption = await self._check(task)
                except Exception as exc:
                    if not errors.is_transient(exc):
                        raise
                    continue
            if interruption is not None:
                log.info("task %s interrupted: %s", task.task_id, interruption.message)
                call.cancel()
                return interruption

    async def _check(self, task: Task) -> _End | None:
        [current] = await self.grid.state.get_tasks([task.task_id])
        if current.status is TaskStatus.CANCELLING:
            return _End(Outcome.CANCELLED, "cancelled while running")
        if current.status is not TaskStatus.PROCESSING or current.owner_pod_id != self.config.agent_id:
            return _End(Outcome.LOST, f"task is {current.status.name}, held by {current.owner_pod_id!r}")
        return None

    async def _on_stop(self, stop: asyncio.Event, call: asyncio.Future[WorkerReply]) -> None:
        await stop.wait()
        await asyncio.wait({call}, timeout=self.config.grace_seconds)
        call.cancel()


@dataclass(frozen=True, slots=True)
class _End:
    """How an attempt ended as the pollster saw it: a worker's reply, or an
    interruption only the agent can see (CANCELLED, LOST, RELEASED). Not a
    ``WorkerReply``: a worker cannot report those."""

    outcome: Outcome
    message: str = ""


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleeps ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
