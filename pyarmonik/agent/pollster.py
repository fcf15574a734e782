"""The polling agent of one partition: pop, lease, run, commit, ack.

Invariants:
- a task is acked from the queue only after its outcome is written (commit,
  failure, retry or release), so an agent dying at any point leaves the item
  leased, and the reaper recovers it when the lease expires;
- while a task runs, a heartbeat renews the lease and watches the task: a
  cancel (CANCELLING) or a lost lease cancels the Process call;
- on stop (SIGTERM) the agent takes no new task and gives the running one
  ``grace_seconds`` to finish, then releases it without using a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import shutil
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from armonik.protogen.common import objects_pb2, worker_common_pb2

from pyarmonik.agent.agent_servicer import AgentServicer
from pyarmonik.agent.task_context import TaskContext
from pyarmonik.agent.worker_client import WorkerClient
from pyarmonik.core import errors, ids, logcontext
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.lifecycle import processing
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.protocol.options import task_options_to_pb
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


class Interruption(enum.Enum):
    """Why a running Process call was stopped before it returned."""

    CANCELLED = "cancelled"
    LEASE_LOST = "lease lost"
    SHUTDOWN = "shutdown"


class Pollster:
    def __init__(
        self,
        grid: Grid,
        worker: WorkerClient,
        servicer: AgentServicer,
        config: AgentConfig,
        *,
        restart_worker: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.grid, self.worker, self.servicer, self.config = grid, worker, servicer, config
        # A worker whose Process call we cancelled (or that timed out) may still
        # be busy with it: the official SDK serves one call at a time.
        self._restart_worker = restart_worker
        self.tasks_done = 0
        self._worker_checked = False

    async def run(self, stop: asyncio.Event) -> None:
        log.info("agent %s polls partition %s", self.config.agent_id, self.config.partition_id)
        while not stop.is_set():
            try:
                await self._poll_once(stop)
            except Exception as exc:
                if not errors.is_transient(exc):
                    raise
                # Storage restarting: wait and go on; a task we held comes
                # back through its lease if we could not write its outcome.
                log.warning("storage unavailable (%s); retrying in %s s", exc, STORAGE_RETRY_SECONDS)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), STORAGE_RETRY_SECONDS)

    async def _poll_once(self, stop: asyncio.Event) -> None:
        if not self._worker_checked:
            if not await self.worker.wait_healthy(stop):
                return
            self._worker_checked = True
        lease = await self.grid.queue.pop(
            self.config.partition_id,
            agent_id=self.config.agent_id,
            lease_seconds=self.config.lease_seconds,
            timeout=self.config.pop_timeout,
        )
        if lease is not None:
            await self._handle(lease, stop)

    async def _handle(self, lease: ports.Lease, stop: asyncio.Event) -> None:
        admission, task = await processing.admit(
            self.grid, lease.item, agent_id=self.config.agent_id, hostname=self.config.hostname
        )
        try:
            if admission is processing.Admission.RUN and task is not None:
                with logcontext.bind(session_id=task.session_id, task_id=task.task_id):
                    await self._run(task, lease, stop)
            else:
                log.debug("task %s not run: %s", lease.item.task_id, admission.value)
        finally:
            await self.grid.queue.ack(lease)

    async def _run(self, task: Task, lease: ports.Lease, stop: asyncio.Event) -> None:
        folder = self.config.data_root / ids.new_id()
        folder.mkdir(parents=True)
        ctx = TaskContext(self.grid, task, folder)
        try:
            await self._download_inputs(ctx)
            started = await processing.start(self.grid, task, agent_id=self.config.agent_id)
            if started is None:
                return  # cancelled while we fetched its data
            task = ctx.task = started
            self.servicer.current = ctx
            await self._process(ctx, lease, stop)
        except errors.PyArmoniKError as exc:
            log.warning("task %s: %s", task.task_id, exc.message)
            await self._settle(processing.crash(self.grid, task, agent_id=self.config.agent_id, message=exc.message))
        finally:
            self.servicer.current = None
            shutil.rmtree(folder, ignore_errors=True)
            self.tasks_done += 1

    async def _download_inputs(self, ctx: TaskContext) -> None:
        for result_id in dict.fromkeys(ctx.task.dependencies):
            await ctx.fetch(result_id)

    async def _process(self, ctx: TaskContext, lease: ports.Lease, stop: asyncio.Event) -> None:
        call = asyncio.ensure_future(self.worker.process(self._request(ctx), timeout=ctx.task.options.max_duration))
        watcher = asyncio.ensure_future(self._watch(ctx.task, lease, call))
        stopper = asyncio.ensure_future(self._on_stop(stop, call))
        try:
            reply = await call
        except asyncio.CancelledError:
            if call.cancelled() and not watcher.done() and not stopper.done():
                raise
            reason = watcher.result() if watcher.done() else Interruption.SHUTDOWN
            await self._interrupted(ctx.task, reason)
            return
        except grpc.aio.AioRpcError as exc:
            await self._failed_call(ctx.task, exc)
            return
        finally:
            watcher.cancel()
            stopper.cancel()
        await self._outcome(ctx, reply)

    def _request(self, ctx: TaskContext) -> worker_common_pb2.ProcessRequest:
        task = ctx.task
        return worker_common_pb2.ProcessRequest(
            communication_token=ctx.token,
            session_id=task.session_id,
            task_id=task.task_id,
            task_options=task_options_to_pb(task.options),
            expected_output_keys=task.expected_output_ids,
            payload_id=task.payload_id,
            data_dependencies=task.data_dependencies,
            data_folder=str(ctx.data_folder),
            configuration=objects_pb2.Configuration(data_chunk_max_size=self.grid.data_chunk_max_size),
        )

    async def _watch(self, task: Task, lease: ports.Lease, call: asyncio.Future[object]) -> Interruption:
        """Heartbeat: renews the lease and cancels the call when the task is
        cancelled or the lease is lost. A storage outage is waited out: the
        lease decides, when storage is back, whether the task is still ours."""
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            try:
                reason, renewed = await self._beat(task, lease)
            except Exception as exc:
                if not errors.is_transient(exc):
                    raise
                log.warning("heartbeat of task %s failed: %s", task.task_id, exc)
                continue
            if reason is not None:
                call.cancel()
                return reason
            lease = renewed or lease

    async def _beat(self, task: Task, lease: ports.Lease) -> tuple[Interruption | None, ports.Lease | None]:
        renewed = await self.grid.queue.renew(lease, lease_seconds=self.config.lease_seconds)
        if renewed is None:
            return Interruption.LEASE_LOST, None
        [current] = await self.grid.state.get_tasks([task.task_id])
        if current.status is TaskStatus.CANCELLING:
            return Interruption.CANCELLED, renewed
        if current.status is not TaskStatus.PROCESSING or current.owner_pod_id != self.config.agent_id:
            return Interruption.LEASE_LOST, renewed
        return None, renewed

    async def _on_stop(self, stop: asyncio.Event, call: asyncio.Future[object]) -> None:
        await stop.wait()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, grpc.aio.AioRpcError):
            await asyncio.wait_for(asyncio.shield(call), self.config.grace_seconds)
        call.cancel()

    async def _interrupted(self, task: Task, reason: Interruption) -> None:
        log.info("task %s interrupted: %s", task.task_id, reason.value)
        await self._worker_may_be_busy()
        if reason is Interruption.CANCELLED:
            await processing.cancelled(self.grid, task, agent_id=self.config.agent_id)
        elif reason is Interruption.SHUTDOWN:
            await self._settle(processing.release(self.grid, task, agent_id=self.config.agent_id))
        # LEASE_LOST: the task is no longer ours; whoever reaped it decides.

    async def _worker_may_be_busy(self) -> None:
        self._worker_checked = False
        if self._restart_worker is not None:
            await self._restart_worker()

    async def _failed_call(self, task: Task, exc: grpc.aio.AioRpcError) -> None:
        await self._worker_may_be_busy()
        agent_id = self.config.agent_id
        if exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
            message = f"task exceeded its max_duration of {task.options.max_duration} s"
            await self._settle(
                processing.fail(self.grid, task, agent_id=agent_id, message=message, status=TaskStatus.TIMEOUT)
            )
        else:
            message = f"worker call failed: {exc.code().name}: {exc.details()}"
            await self._settle(processing.crash(self.grid, task, agent_id=agent_id, message=message))

    async def _outcome(self, ctx: TaskContext, reply: worker_common_pb2.ProcessReply) -> None:
        agent_id = self.config.agent_id
        if reply.output.WhichOneof("type") == "error":
            message = reply.output.error.details or "the worker returned an error"
            await self._settle(processing.fail(self.grid, ctx.task, agent_id=agent_id, message=message))
            return
        if not reply.HasField("output"):
            await self._settle(
                processing.crash(self.grid, ctx.task, agent_id=agent_id, message="worker returned no output")
            )
            return
        try:
            await self._settle(
                processing.complete(self.grid, ctx.task, agent_id=agent_id, files=ctx.files, commit=ctx.commit())
            )
        except errors.PyArmoniKError as exc:
            # What the worker asked for cannot be committed (e.g. a child on an
            # aborted result): retrying would fail the same way.
            message = f"commit refused: {exc.message}"
            await self._settle(processing.fail(self.grid, ctx.task, agent_id=agent_id, message=message))

    async def _settle(self, outcome: Awaitable[object]) -> None:
        """Writes an outcome; a refusal means another agent took the task over
        (our lease expired), which is logged, not raised."""
        try:
            await outcome
        except errors.NotHeld as exc:
            log.warning("outcome refused: %s", exc.message)
