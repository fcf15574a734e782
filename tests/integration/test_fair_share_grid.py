"""Fair share on a real grid, through the official client and the official
worker SDK: ``pyarmonik local`` (its agents and workers as processes) and
the separate-process deployment (Redis with AOF, S3, a control plane, its
agents). Orders are read from the tasks' own records (when each was
acquired), never timed: a small session behind a flood is served within a
few rounds, sessions weighted 1:2:4 get shares within 10 % of 1:2:4, a
higher priority still comes first, and a capped key never runs more than
its cap, sampled all along a run."""

from __future__ import annotations

import asyncio
import collections
import json
import pathlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
from armonik.client import ArmoniKPartitions, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import Task, TaskDefinition, TaskOptions, TaskStatus

from bench import bench_fairness
from pyarmonik.core import fairshare
from pyarmonik.settings import LocalSettings
from tests import servers
from tests.deployment import start_deployment
from tests.grid_thread import GridThread
from tests.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
WORKER = pathlib.Path(__file__).parents[1] / "workers" / "behaviours.py"
AGENTS = 3
WORK = 0.02
#: Tasks are counted done within this; the machine may be loaded.
DONE_TIMEOUT = 300.0
PARTITION = "default"


@dataclass
class FairGrid:
    address: str
    redis_url: str

    def fair_share(self, config: fairshare.FairShare) -> None:
        """Writes the partition's fair share, as the operator does."""
        asyncio.run(bench_fairness.write_fair_share(self.redis_url, config, partition_id=PARTITION))


@pytest.fixture(scope="module", params=["local", "deployment"])
def grid(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FairGrid]:
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "local":
        settings = LocalSettings(
            port=0, data_dir=root, partitions=[PARTITION], agents=AGENTS, worker=[f'"{sys.executable}" "{WORKER}"'],
            lease_seconds=10.0,
        )  # fmt: skip
        running = GridThread(settings).start()
        try:
            yield FairGrid(running.address, running.redis_url)
        finally:
            running.stop()
        return
    try:
        deployment = start_deployment(root, control_planes=1, agents=AGENTS)
    except servers.ServerUnavailable as exc:
        servers.skip_or_fail(f"cannot start the deployment's servers: {exc}")
    try:
        assert deployment.redis is not None
        yield FairGrid(deployment.address(0), deployment.redis.url)
    finally:
        deployment.close()


@pytest.fixture
def channel(grid: FairGrid) -> Iterator[grpc.Channel]:
    grid.fair_share(fairshare.DEFAULT)
    with grpc.insecure_channel(grid.address) as channel:
        yield channel


class Session:
    """One session of the official client and what it submitted."""

    def __init__(self, channel: grpc.Channel, *, priority: int = 1, **options: Any) -> None:
        self.sessions, self.results = ArmoniKSessions(channel), ArmoniKResults(channel)
        self.tasks = ArmoniKTasks(channel)
        defaults = {"max_duration": timedelta(seconds=60), "priority": priority, "max_retries": 2}
        self.session_id = self.sessions.create_session(TaskOptions(**defaults, **options))
        self.priority = priority
        self.task_ids: list[str] = []

    def submit(self, count: int, *, priority: int | None = None) -> None:
        job = json.dumps({"do": "echo", "value": 1, "work": WORK}).encode()
        payloads = self.results.create_results({f"p{i}": job for i in range(count)}, self.session_id, 500)
        outputs = self.results.create_results_metadata([f"o{i}" for i in range(count)], self.session_id, 500)
        task_options = None
        if priority is not None:
            task_options = TaskOptions(max_duration=timedelta(seconds=60), priority=priority, max_retries=2)
        definitions = [
            TaskDefinition(payloads[f"p{i}"].result_id, [outputs[f"o{i}"].result_id], options=task_options)
            for i in range(count)
        ]
        self.task_ids += [t.id for t in self.tasks.submit_tasks(self.session_id, definitions, chunk_size=500)]

    def records(self) -> list[Task]:
        found: list[Task] = []
        while True:
            total, page = self.tasks.list_tasks(
                Task.session_id == self.session_id, page=len(found) // 500, page_size=500, detailed=True
            )
            found += page
            if len(found) >= total or not page:
                return found

    def completed(self) -> int:
        counts = self.tasks.count_tasks_by_status(Task.session_id == self.session_id)
        return counts.get(TaskStatus.COMPLETED, 0)

    def running(self, *others: Session) -> int:
        """Tasks held by agents in this session and ``others``, read at once
        (one count over all of them, not one per session)."""
        where = Task.session_id == self.session_id
        for other in others:
            where = where | (Task.session_id == other.session_id)
        counts = self.tasks.count_tasks_by_status(where)
        return counts.get(TaskStatus.DISPATCHED, 0) + counts.get(TaskStatus.PROCESSING, 0)

    def wait_done(self) -> list[Task]:
        wait_for(lambda: self.completed() == len(self.task_ids), timeout=DONE_TIMEOUT, interval=0.2)
        return self.records()


def dispatch_order(*sessions: Session) -> list[tuple[str, Task]]:
    """Every task of ``sessions`` with its session, in the order agents acquired them."""
    found = [(s.session_id, t) for s in sessions for t in s.wait_done()]
    return sorted(found, key=lambda pair: pair[1].acquired_at)  # type: ignore[arg-type,return-value]


def test_a_small_session_after_a_flood_is_served_within_a_few_rounds(channel: grpc.Channel) -> None:
    flood, small = Session(channel), Session(channel)
    flood.submit(300)
    wait_for(lambda: flood.completed() >= 10, timeout=DONE_TIMEOUT, interval=0.1)
    small.submit(10)
    order = dispatch_order(flood, small)
    arrived = min(t.submitted_at for s, t in order if s == small.session_id)  # type: ignore[type-var]
    last = max(t.acquired_at for s, t in order if s == small.session_id)  # type: ignore[type-var]
    flood_meanwhile = [t for s, t in order if s == flood.session_id and arrived < t.acquired_at <= last]
    # In turn: about one flood task per small one, plus what agents held when it arrived. FIFO: ~280.
    assert len(flood_meanwhile) <= 2 * 10 + AGENTS, len(flood_meanwhile)


def test_sessions_weighted_1_2_4_get_shares_within_10_percent_of_1_2_4(channel: grpc.Channel) -> None:
    weights = (1, 2, 4)
    sessions = [Session(channel, options={fairshare.WEIGHT_OPTION: str(w)}) for w in weights]
    for session in sessions:  # queued together: paused while submitting, resumed at once
        session.sessions.pause_session(session.session_id)
        session.submit(150)
    for session in sessions:
        session.sessions.resume_session(session.session_id)
    order = [s for s, _ in dispatch_order(*sessions)]
    # A window in which all three stay queued (the weight-4 one runs dry after ~260 dispatches).
    window = collections.Counter(order[10:220])
    for session, weight in zip(sessions, weights):
        expected = 210 * weight / sum(weights)
        assert abs(window[session.session_id] - expected) <= 0.1 * expected, (weights, window)


def test_a_higher_priority_is_still_dispatched_first(channel: grpc.Channel) -> None:
    low, high = Session(channel, priority=1), Session(channel, priority=1)
    low.submit(150)
    wait_for(lambda: low.completed() >= 5, timeout=DONE_TIMEOUT, interval=0.1)
    high.submit(20, priority=5)
    order = dispatch_order(low, high)
    arrived = min(t.submitted_at for s, t in order if s == high.session_id)  # type: ignore[type-var]
    last = max(t.acquired_at for s, t in order if s == high.session_id)  # type: ignore[type-var]
    low_meanwhile = [t for s, t in order if s == low.session_id and arrived < t.acquired_at <= last]
    assert len(low_meanwhile) <= AGENTS, len(low_meanwhile)  # at most what agents held when it arrived


def test_a_capped_application_never_runs_more_than_its_cap_under_load(grid: FairGrid, channel: grpc.Channel) -> None:
    grid.fair_share(fairshare.fair_share(key="application", caps={"capped": 1}))
    capped = [Session(channel, application_name="capped") for _ in range(2)]
    free = Session(channel, application_name="free")
    for session in (*capped, free):
        session.submit(30)
    most = {"capped": 0, "free": 0}

    def sample() -> bool:
        most["capped"] = max(most["capped"], capped[0].running(*capped[1:]))
        most["free"] = max(most["free"], free.running())
        return all(s.completed() == len(s.task_ids) for s in (*capped, free))

    wait_for(sample, timeout=DONE_TIMEOUT, interval=0.05)
    assert most["capped"] <= 1, most
    assert most["free"] >= 2, most  # the other agents were busy meanwhile: the cap held under load


def test_local_s_fair_share_settings_are_its_partitions_and_shown_by_get_partition(tmp_path: pathlib.Path) -> None:
    settings = LocalSettings(
        port=0, data_dir=tmp_path, agents=0, fair_share_key="user", fair_share_weight=["bob=2"],
        fair_share_cap=["*=3"],
    )  # fmt: skip
    running = GridThread(settings).start()
    try:
        with grpc.insecure_channel(running.address) as channel:
            shown = ArmoniKPartitions(channel).get_partition(PARTITION).pod_configuration
    finally:
        running.stop()
    assert {k: v for k, v in shown.items() if k.startswith("pyarmonik.io/")} == {
        "pyarmonik.io/fair-share-mode": "fair",
        "pyarmonik.io/fair-share-key": "user",
        "pyarmonik.io/fair-share-default-weight": "1",
        "pyarmonik.io/fair-share-weights": '{"bob":2.0}',
        "pyarmonik.io/fair-share-default-cap": "3",
    }
