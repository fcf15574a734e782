"""Drives the Redis functions' queue and the pure model of the fair-share
rule (``pyarmonik.core.fair_queue``) through the same steps, so that a test
compares the order in which each dispatches tasks.

The Redis side goes through the state store and the agent's dispatch, as
the control plane and the agents do: sessions created with their owner,
application and weight, tasks created ready (their payload completed) at a
given time, claimed one at a time, committed or given back, sessions
paused. Ids are chosen by the driver and given to the model as they are,
since equal virtual times are ordered by entry name, which holds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio

from pyarmonik.core import fairshare
from pyarmonik.core.fair_queue import FairQueue, SessionInfo
from pyarmonik.core.models import Partition, Result, Session, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.state import RedisStateStore

PARTITION = "fair"
AGENT = "agent"


@dataclass
class Driver:
    client: redis.asyncio.Redis
    config: fairshare.FairShare = fairshare.DEFAULT
    model: FairQueue = field(init=False)
    claims: dict[str, ports.Claim] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.model = FairQueue(self.config)
        self.state = RedisStateStore(self.client)
        self.dispatch = RedisDispatch(self.client, clock=lambda: 1.0)

    async def start(self) -> None:
        await self.state.put_partitions([Partition(PARTITION, fair_share=self.config)])

    async def session(self, name: str, info: SessionInfo | None = None) -> None:
        info = info or SessionInfo()
        extra = {} if info.weight is None else {fairshare.WEIGHT_OPTION: repr(info.weight)}
        options = TaskOptions(
            max_duration=60.0, max_retries=2, priority=1, partition_id=PARTITION,
            application_name=info.application, options=extra,
        )  # fmt: skip
        session = Session(name, SessionStatus.RUNNING, options, [PARTITION], created_at=0.0, owner=info.owner)
        await self.state.create_session(session)
        payload = Result(name, f"{name}-payload", "payload", ResultStatus.COMPLETED, 0.0, size=1, opaque_id=b"k")
        await self.state.create_results([payload])
        self.model.session(name, info)

    async def push(self, name: str, priority: int, count: int, *, at: float = 1.0) -> list[str]:
        """``count`` ready tasks of session ``name`` at ``priority``, created at ``at``."""
        first = self.counts.get(name, 0)
        self.counts[name] = first + count
        ids = [f"{name}{i}" for i in range(first, first + count)]
        outputs = [Result(name, f"{i}-out", "out", ResultStatus.CREATED, at) for i in ids]
        await self.state.create_results(outputs)
        options = TaskOptions(max_duration=60.0, max_retries=2, priority=priority, partition_id=PARTITION)
        payload = f"{name}-payload"
        new = [
            Task(i, name, TaskStatus.CREATING, options, at, payload, [], [o.result_id], initial_task_id=i)
            for i, o in zip(ids, outputs)
        ]
        await self.state.create_tasks(name, new, at=at)
        self.model.push(name, priority, ids, at=at)
        return ids

    async def pop(self, count: int = 1, *, finish: bool = True) -> tuple[list[str], list[str]]:
        """Up to ``count`` claims on Redis and pops of the model (finished at
        once when ``finish``): the task ids each dispatched, in order."""
        redis_order, model_order = [], []
        for _ in range(count):
            claims = await self.dispatch.claim(
                PARTITION, agent_id=AGENT, hostname="h", lease_seconds=60, count=1, start_first=True, timeout=0
            )
            run = [c for c in claims if c.admission is ports.Admission.RUN]
            found = self.model.pop()
            if run:
                redis_order.append(run[0].task_id)
                self.claims[run[0].task_id] = run[0]
            if found is not None:
                model_order.append(found[0])
            if finish:
                for task_id in {*redis_order[-1:], *model_order[-1:]}:
                    await self.finish(task_id)
            if not run and found is None:
                break
        return redis_order, model_order

    async def finish(self, task_id: str) -> None:
        claim = self.claims.pop(task_id, None)
        if claim is not None and claim.task is not None:
            await self.dispatch.commit(claim.task, claim.lease, agent_id=AGENT, commit=ports.TaskCommit(), at=2.0)
        self.model.finish(task_id)

    async def give_back(self, task_id: str) -> None:
        claim = self.claims.pop(task_id)
        assert claim.task is not None
        await self.dispatch.release(claim.task, claim.lease, agent_id=AGENT, at=2.0)
        self.model.finish(task_id)
        self.model.push(claim.task.session_id, claim.task.options.priority, [task_id], head=True)

    async def pause(self, name: str) -> None:
        every = frozenset(SessionStatus)
        await self.state.update_session(name, allowed_from=every, status=SessionStatus.PAUSED, at=2.0)
        self.model.remove_session(name)
