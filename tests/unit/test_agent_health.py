"""What an agent's probes answer, as its pollster lives through a task."""

from __future__ import annotations

from pyarmonik.agent.health import AgentHealth, AgentState


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_agent_is_ready_only_once_its_worker_served_and_storage_answers() -> None:
    clock = Clock()
    health = AgentHealth(clock=clock)
    health.waiting_for_worker()
    assert health.ready() == (False, "waiting for the worker to serve")
    health.worker_ready()
    health.state = AgentState.IDLE
    assert health.ready() == (True, "agent idle")
    health.storage.failed("agent a", ConnectionError("refused"))
    clock.now = 12.0
    assert health.ready() == (False, "storage unavailable for 12 s")
    health.storage.reached("agent a resumes polling")
    assert health.ready()[0] is True


def test_a_draining_agent_is_live_but_not_ready() -> None:
    health = AgentHealth()
    health.worker_ready()
    health.state = AgentState.DRAINING
    assert health.live() == (True, "agent draining")
    assert health.ready() == (False, "agent draining: takes no new task")
    health.state = AgentState.STOPPED
    assert health.live()[0] is False


def test_a_worker_unresponsive_after_serving_fails_its_liveness_after_the_limit() -> None:
    clock = Clock()
    health = AgentHealth(stuck_seconds=30, clock=clock)
    health.waiting_for_worker()
    clock.now = 100.0
    assert health.worker_live() == (True, "worker starting")  # never served: not stuck, starting
    health.worker_ready()
    health.waiting_for_worker()  # after an interrupted call: is it back?
    clock.now = 120.0
    assert health.worker_live()[0] is True
    clock.now = 131.0
    assert health.worker_live() == (False, "worker unresponsive for 31 s after its last task (limit 30 s)")
    health.worker_ready()
    assert health.worker_live() == (True, "worker serving")
