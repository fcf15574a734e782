"""The agent's port to whatever runs a task's code.

The pollster only knows this protocol, so a transport is an adapter: the
official gRPC protocol to a worker process (``grpc_worker.GrpcWorker``), or
a Python function in the agent's process with the SDK's ``TaskHandler ->
Output`` contract (``inprocess_worker.InProcessWorker``). An adapter turns its transport's results into a
``WorkerReply`` (an ``Outcome`` and a message); what that outcome means for
the task is decided elsewhere, by ``outcomes.settle``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from pyarmonik.agent.task_context import TaskContext
from pyarmonik.lifecycle.outcomes import Outcome

#: The outcomes a worker can report; the others are seen by the agent itself.
REPLIES = frozenset({Outcome.OK, Outcome.ERROR, Outcome.CRASH, Outcome.TIMEOUT})


@dataclass(frozen=True, slots=True)
class WorkerReply:
    """How one ``process`` call ended, in domain terms."""

    outcome: Outcome
    message: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in REPLIES:
            raise ValueError(f"a worker cannot reply {self.outcome.name}")


class Worker(Protocol):
    async def start(self) -> None:
        """Prepares what the worker needs before its first task (the gRPC
        adapter serves the Agent service its worker process calls back)."""

    async def wait_ready(self, stop: asyncio.Event) -> bool:
        """Waits until the worker can take a task (True) or ``stop`` is set
        (False). Cheap when the worker is known ready: called before each pop."""

    async def process(self, ctx: TaskContext, *, timeout: float | None) -> WorkerReply:
        """Runs the task of ``ctx``, giving up after ``timeout`` seconds
        (TIMEOUT). During the call the worker's agent calls go to ``ctx``.
        Cancelling the call abandons it; ``recover`` is then due."""

    async def recover(self) -> None:
        """After a call that did not end cleanly (interrupted, TIMEOUT,
        CRASH): the worker may still be busy with it or gone, so make it
        usable again; ``wait_ready`` says when it is."""

    async def close(self) -> None: ...
