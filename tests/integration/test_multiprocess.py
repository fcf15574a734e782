"""Control planes and agents as separate processes sharing one Redis and one
S3, driven by the official client; then components killed with SIGKILL.

Every fault test leaves the deployment whole again (it restarts or replaces
what it killed), so the tests share one deployment.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import threading
from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import ResultStatus, Task, TaskDefinition, TaskOptions, TaskStatus

from tests import servers
from tests.deployment import Deployment, start_deployment
from tests.helpers import wait_for

pytestmark = pytest.mark.integration
OPTIONS = TaskOptions(max_duration=timedelta(seconds=120), priority=1, max_retries=3)
BATCH = 1000


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    try:
        running = start_deployment(tmp_path_factory.mktemp("deployment"), control_planes=2, agents=3)
    except servers.ServerUnavailable as exc:
        servers.skip_or_fail(f"cannot start the deployment's servers: {exc}")
    try:
        yield running
    finally:
        running.close()


class Client:
    def __init__(self, channel: grpc.Channel, session_id: str | None = None) -> None:
        self.sessions, self.results = ArmoniKSessions(channel), ArmoniKResults(channel)
        self.tasks, self.events = ArmoniKTasks(channel), ArmoniKEvents(channel)
        self.session_id = session_id or self.sessions.create_session(OPTIONS)

    def payloads(self, jobs: list[dict]) -> list[str]:
        created = self.results.create_results(
            {f"p{i}": json.dumps(job).encode() for i, job in enumerate(jobs)}, self.session_id, batch_size=BATCH
        )
        return [created[f"p{i}"].result_id for i in range(len(jobs))]

    def outputs(self, count: int) -> list[str]:
        created = self.results.create_results_metadata([f"o{i}" for i in range(count)], self.session_id, BATCH)
        return [created[f"o{i}"].result_id for i in range(count)]

    def submit(
        self, jobs: list[dict], dependencies: list[list[str]] | None = None, options: TaskOptions | None = None
    ) -> list[str]:
        payloads, outputs = self.payloads(jobs), self.outputs(len(jobs))
        deps = dependencies or [[] for _ in jobs]
        self.tasks.submit_tasks(
            self.session_id,
            [TaskDefinition(p, [o], d, options) for p, o, d in zip(payloads, outputs, deps)],
            chunk_size=BATCH,
        )
        return outputs

    def value(self, result_id: str) -> object:
        return json.loads(self.results.download_result_data(result_id, self.session_id))


def _gated(client: Client, tmp_path: pathlib.Path) -> tuple[str, str, pathlib.Path, pathlib.Path]:
    gate, started = tmp_path / "gate", tmp_path / "started"
    [output] = client.outputs(1)
    [payload] = client.payloads([{"do": "wait", "gate": str(gate), "log": str(started), "value": "survived"}])
    [task] = client.tasks.submit_tasks(client.session_id, [TaskDefinition(payload, [output])])
    wait_for(started.exists, timeout=60)
    return task.id, output, gate, started


@pytest.mark.parametrize(
    "count",
    [
        pytest.param(1000, id="2000-tasks", marks=pytest.mark.timeout(300)),
        # ~100 tasks/s on a 2-core machine: about two minutes of work.
        pytest.param(5000, id="10000-tasks", marks=[pytest.mark.soak, pytest.mark.timeout(900)]),
    ],
)
def test_two_control_planes_and_three_agents_complete_a_graph_across_both_exactly_once(
    deployment: Deployment, count: int
) -> None:
    with grpc.insecure_channel(deployment.address(0)) as first, grpc.insecure_channel(deployment.address(1)) as second:
        leaves = Client(first)
        roots = Client(second, leaves.session_id)
        leaf_outputs = leaves.submit([{"do": "echo", "value": i} for i in range(count)])
        # Each root sums two leaves: a graph whose edges cross the two control planes.
        pairs = [[leaf_outputs[i], leaf_outputs[(i + 1) % count]] for i in range(count)]
        root_outputs = roots.submit([{"do": "sum"} for _ in range(count)], pairs)
        leaves.events.wait_for_result_availability(root_outputs, leaves.session_id, bucket_size=1000)
        values = [roots.value(r) for r in root_outputs]
        assert values == [i + (i + 1) % count for i in range(count)]
        counts = leaves.tasks.count_tasks_by_status(Task.session_id == leaves.session_id)
        assert counts == {TaskStatus.COMPLETED: 2 * count}


def test_tasks_timing_out_in_a_row_leave_every_agent_serving_and_the_next_tasks_complete(
    deployment: Deployment,
) -> None:
    """Tasks that never end by themselves, with a max_duration of 1 s: each
    times out, and its worker, still busy with it, is restarted in place by
    its supervisor at its agent's request, as in a pod (no container
    restart, so no CrashLoopBackOff); the agents then serve the next tasks,
    which no worker stuck in a timed-out task could run."""
    logs = sorted((deployment.root / "logs").glob("worker-*.log"))
    asked_before = sum(log.read_text(errors="replace").count("restarted as its agent asked") for log in logs)
    with grpc.insecure_channel(deployment.address(0)) as channel:
        client = Client(channel)
        short = TaskOptions(max_duration=timedelta(seconds=1), priority=1, max_retries=3)
        hung = client.submit([{"do": "wait", "gate": "/nonexistent", "timeout": 3600} for _ in range(6)], options=short)

        def timed_out() -> bool:
            counts = client.tasks.count_tasks_by_status(Task.session_id == client.session_id)
            return counts.get(TaskStatus.TIMEOUT, 0) == len(hung)

        wait_for(timed_out, timeout=90, interval=0.5)
        assert all(client.results.get_result(o).status == ResultStatus.ABORTED for o in hung)
        outputs = client.submit([{"do": "echo", "value": n} for n in range(6)])
        client.events.wait_for_result_availability(outputs, client.session_id)
        assert [client.value(o) for o in outputs] == list(range(6))
    logs = sorted((deployment.root / "logs").glob("worker-*.log"))
    asked = sum(log.read_text(errors="replace").count("restarted as its agent asked") for log in logs)
    assert asked - asked_before == len(hung), deployment.logs()
    assert all(agent.worker.poll() is None for agent in deployment.agents.values() if agent.agent.poll() is None)


def test_agent_killed_mid_task_loses_it_to_another_agent_and_nothing_completes_twice(
    deployment: Deployment, tmp_path: pathlib.Path
) -> None:
    with grpc.insecure_channel(deployment.address(0)) as channel:
        client = Client(channel)
        task_id, output, gate, _ = _gated(client, tmp_path)
        victim = deployment.agent_holding(client.tasks.get_task(task_id).owner_pod_id)
        deployment.kill(victim.agent)
        gate.touch()  # the orphaned worker may finish, but nobody can commit for the dead agent
        client.events.wait_for_result_availability(output, client.session_id)
        assert client.value(output) == "survived"
        assert client.tasks.get_task(task_id).status == TaskStatus.RETRIED
        retry = client.tasks.get_task(f"{task_id}###1")
        assert retry.status == TaskStatus.COMPLETED and retry.owner_pod_id != victim.agent_id
        assert client.results.get_result(output).owner_task_id == retry.id
    deployment.kill(victim.worker)
    deployment.start_agent(max(deployment.agents) + 1)


def test_a_scale_down_during_running_tasks_loses_none_and_completes_none_twice(deployment: Deployment) -> None:
    """What Kubernetes does to the agents of a shrinking partition: SIGTERM
    while they run tasks. Each stops taking tasks, finishes its task within
    the grace delay or releases it; the survivors run the rest. Checked
    through the events: every result COMPLETED exactly once."""
    from armonik.common import EventTypes

    with grpc.insecure_channel(deployment.address(0)) as channel:
        client = Client(channel)
        completions: dict[str, int] = {}
        done = threading.Event()

        def on_event(session_id: str, event_type: EventTypes, event: object) -> bool:
            if getattr(event, "status", None) == ResultStatus.COMPLETED:
                completions[event.result_id] = completions.get(event.result_id, 0) + 1  # type: ignore[attr-defined]
            return done.is_set()

        def listen() -> None:
            # The stream ends only when the test closes its channel; the assertions say what was seen.
            with contextlib.suppress(grpc.RpcError):
                client.events.get_events(client.session_id, [EventTypes.RESULT_STATUS_UPDATE], [on_event])

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        # 0.4 s of work each (a gate that never opens), 3 agents: the SIGTERMs land mid-task.
        outputs = client.submit([{"do": "wait", "gate": "/nonexistent", "timeout": 0.4, "value": n} for n in range(60)])
        live = [a for a in deployment.agents.values() if a.agent.poll() is None]
        assert len(live) >= 3
        leaving = live[:2]
        wait_for(
            lambda: (
                client.tasks.count_tasks_by_status(Task.session_id == client.session_id).get(TaskStatus.COMPLETED, 0)
                >= 5
            ),
            timeout=60,
        )
        for agent in leaving:
            os.killpg(agent.agent.pid, signal.SIGTERM)
        for agent in leaving:
            agent.agent.wait(timeout=30)
            assert agent.agent.returncode == 0, deployment.logs()
        client.events.wait_for_result_availability(outputs, client.session_id, bucket_size=100)
        assert [client.value(o) for o in outputs] == list(range(60))
        wait_for(lambda: set(completions) >= set(outputs), timeout=30)
        done.set()
        assert {o: completions[o] for o in outputs} == dict.fromkeys(outputs, 1)
        counts = client.tasks.count_tasks_by_status(Task.session_id == client.session_id)
        assert counts.get(TaskStatus.COMPLETED) == 60
        assert set(counts) <= {TaskStatus.COMPLETED, TaskStatus.RETRIED} and not counts.get(TaskStatus.RETRIED)
    for agent in leaving:  # the module's deployment is shared: put the agents back
        deployment.kill(agent.worker)
        deployment.start_agent(max(deployment.agents) + 1)


def test_worker_killed_mid_task_is_retried_and_the_client_gets_its_result(
    deployment: Deployment, tmp_path: pathlib.Path
) -> None:
    with grpc.insecure_channel(deployment.address(1)) as channel:
        client = Client(channel)
        task_id, output, gate, _ = _gated(client, tmp_path)
        victim = deployment.agent_holding(client.tasks.get_task(task_id).owner_pod_id)
        gate.touch()
        deployment.kill(victim.worker)  # may lose the race with the gate: then the task simply completes
        deployment.restart_worker(victim.index)
        client.events.wait_for_result_availability(output, client.session_id)
        assert client.value(output) == "survived"
        attempts = client.tasks.list_tasks(Task.initial_task_id == task_id)[1]
        assert [t.status for t in attempts].count(TaskStatus.COMPLETED) == 1


def test_control_plane_killed_during_submission_leaves_no_duplicate_the_client_cannot_see(
    deployment: Deployment,
) -> None:
    port = deployment.start_control_plane(9)
    count = 3000
    with grpc.insecure_channel(deployment.address(0)) as survivor, grpc.insecure_channel(f"127.0.0.1:{port}") as doomed:
        client = Client(survivor)
        payloads = client.payloads([{"do": "echo", "value": i} for i in range(count)])
        outputs = client.outputs(count)
        definitions = [TaskDefinition(p, [o]) for p, o in zip(payloads, outputs)]
        call = threading.Thread(target=_submit_ignoring_errors, args=(doomed, client.session_id, definitions))
        call.start()
        deployment.kill(deployment.control_planes.pop(9))
        call.join(60)
        # The client cannot know whether its call took effect: it retries elsewhere.
        submitted = client.tasks.submit_tasks(client.session_id, definitions, chunk_size=count)
        assert len({t.id for t in submitted}) == count
        client.events.wait_for_result_availability(outputs, client.session_id, bucket_size=1000)
        assert client.tasks.list_tasks(Task.session_id == client.session_id, page_size=0)[0] == count


def _submit_ignoring_errors(channel: grpc.Channel, session_id: str, definitions: list[TaskDefinition]) -> None:
    with contextlib.suppress(grpc.RpcError):
        ArmoniKTasks(channel).submit_tasks(session_id, definitions, chunk_size=len(definitions))


def test_redis_restarted_with_aof_loses_nothing_and_the_grid_carries_on(deployment: Deployment) -> None:
    with grpc.insecure_channel(deployment.address(0)) as channel:
        client = Client(channel)
        before = client.submit([{"do": "echo", "value": i} for i in range(50)])
        client.events.wait_for_result_availability(before, client.session_id)
        deployment.restart_redis()

        def session_is_back() -> bool:
            try:
                return client.sessions.get_session(client.session_id) is not None
            except grpc.RpcError:
                return False

        wait_for(session_is_back, timeout=30, interval=0.2)
        assert [client.value(r) for r in before] == list(range(50))
        assert all(client.results.get_result(r).status == ResultStatus.COMPLETED for r in before)
        after = client.submit([{"do": "echo", "value": i} for i in range(50, 100)])
        client.events.wait_for_result_availability(after, client.session_id)
        assert [client.value(r) for r in after] == list(range(50, 100))


def test_control_plane_restarted_loses_nothing_and_clients_reconnect(deployment: Deployment) -> None:
    with grpc.insecure_channel(deployment.address(1)) as channel:
        client = Client(channel)
        outputs = client.submit([{"do": "echo", "value": "kept"}])
        client.events.wait_for_result_availability(outputs, client.session_id)
        port = deployment.ports[1]
        deployment.kill(deployment.control_planes[1])
        deployment.start_control_plane(1, port=port)
        assert client.value(outputs[0]) == "kept"  # the same channel reconnects
        assert client.sessions.get_session(client.session_id).status is not None
