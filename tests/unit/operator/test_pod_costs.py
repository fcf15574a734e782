"""Deletion costs: busy agents last, idle ones first, the unknown in between."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyarmonik.agent.health import AgentState
from pyarmonik.operator import pod_costs


def pod(name: str, ip: str | None = "10.0.0.1", *, phase: str = "Running", **metadata: Any) -> dict[str, Any]:
    status = {"phase": phase, **({"podIP": ip} if ip else {})}
    return {"metadata": {"name": name, **metadata}, "status": status}


def test_busy_pods_cost_more_than_unknown_ones_which_cost_more_than_idle_ones() -> None:
    costs = pod_costs.deletion_costs({"busy": "busy", "lost": None, "idle": "idle", "odd": "sleeping"})
    assert costs["busy"] > costs["lost"] == costs["odd"] > costs["idle"]


def test_agent_states_or_their_values_give_the_same_costs() -> None:
    by_enum = pod_costs.deletion_costs({state.value: state for state in AgentState})
    by_value = pod_costs.deletion_costs({state.value: state.value for state in AgentState})
    assert by_enum == by_value
    assert by_enum["busy"] == max(by_enum.values())
    assert by_enum["draining"] < by_enum["idle"]  # leaving anyway: removing it first costs nothing


def test_every_agent_state_has_a_cost_of_its_own() -> None:
    # A new state in the agent must be given a cost here, not fall to UNKNOWN_COST.
    assert {state.value for state in AgentState} == set(pod_costs.COSTS)


@pytest.mark.parametrize(
    ("status", "body", "state"),
    [
        (200, "agent busy\n", "busy"),
        (200, "agent idle", "idle"),
        (503, "agent stopped", "stopped"),
        (503, "agent draining: takes no new task", "draining"),
        (503, "storage unavailable for 12 s", None),
        (200, "agent dancing", None),
        (404, "agent busy", None),
        (200, "", None),
    ],
    ids=["busy", "idle", "stopped", "draining", "not_a_state", "unknown_state", "not_found", "empty"],
)
def test_a_probe_answer_names_the_agent_state(status: int, body: str, state: str | None) -> None:
    assert pod_costs.state_of_answer(status, body) == state


async def test_agent_states_asks_each_running_pod_on_its_probe_port() -> None:
    asked: list[str] = []
    answers = {"10.0.0.1": "agent busy", "10.0.0.2": "agent idle", "fd00::3": "agent starting"}

    async def fetch(url: str) -> tuple[int, str]:
        asked.append(url)
        host = url.split("//")[1].rsplit(":", 1)[0].strip("[]")
        return 200, answers[host]

    pods = [
        pod("a", "10.0.0.1"),
        pod("b", "10.0.0.2"),
        pod("c", "fd00::3"),
        pod("pending", None, phase="Pending"),
        pod("leaving", "10.0.0.9", deletionTimestamp="2025-01-01T00:00:00Z"),
    ]
    states = await pod_costs.agent_states(pods, fetch)
    assert states == {"a": "busy", "b": "idle", "c": "starting", "pending": None, "leaving": None}
    assert sorted(asked) == ["http://10.0.0.1:8080/livez", "http://10.0.0.2:8080/livez", "http://[fd00::3]:8080/livez"]


async def test_a_pod_that_does_not_answer_in_time_is_unknown_and_does_not_hold_the_others() -> None:
    async def fetch(url: str) -> tuple[int, str]:
        if "10.0.0.1" in url:
            await asyncio.sleep(10)
        if "10.0.0.2" in url:
            raise OSError("connection refused")
        return 200, "agent idle"

    pods = [pod("slow", "10.0.0.1"), pod("refusing", "10.0.0.2"), pod("fine", "10.0.0.3")]
    states = await asyncio.wait_for(pod_costs.agent_states(pods, fetch, timeout=0.05), 2)
    assert states == {"slow": None, "refusing": None, "fine": "idle"}


def test_only_pods_whose_annotation_changes_are_patched() -> None:
    annotation = pod_costs.ANNOTATION
    pods = [
        pod("same", annotations={annotation: "1000"}),
        pod("changed", annotations={annotation: "1000", "other": "kept"}),
        pod("new"),
        pod("not_costed"),
    ]
    patches = pod_costs.annotation_patches(pods, {"same": 1000, "changed": 0, "new": 500})
    assert patches == {
        "changed": {"metadata": {"annotations": {annotation: "0"}}},
        "new": {"metadata": {"annotations": {annotation: "500"}}},
    }
