"""Busy pods last: deletion costs that make a scale-down remove idle agents first.

When a Deployment shrinks, its ReplicaSet removes, among the pods that are
equally ready, those with the lowest ``controller.kubernetes.io/pod-deletion-cost``
annotation first (pods not yet scheduled, pending or not ready go before
any of them anyway). The operator marks each partition pod with what its
agent is doing: busy agents high, idle ones low, so the pods a scale-down
removes are idle ones whenever there are enough of them, which the count
itself guarantees (it never falls below the running tasks,
:mod:`pyarmonik.operator.autoscaler`).

Where the state comes from: each agent serves its state on its probe port
(``PROBE_PORT``, the container port named ``probes``): ``/livez`` answers
``agent <state>`` with the :class:`pyarmonik.agent.health.AgentState` value
(starting, idle, busy, draining, stopped) whatever its readiness, where
``/readyz`` says ``agent busy``/``agent idle`` only while ready (during a
storage outage it names the outage instead). The operator GETs
``http://<podIP>:8080/livez`` (``agent_states``, the HTTP GET injected).

This is best effort, not a lock: an agent can take a task between the
marking and the scale-down. That case is the agent's SIGTERM drain (it
finishes or releases its task within its grace), so a task is never lost,
only sometimes retried on another pod. A pod that cannot be asked gets a
cost between the two, so known idle pods still go first.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import aiohttp

from pyarmonik.operator.builders import partition

ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
STATE_PATH = "/livez"
#: By agent state (``AgentState`` values; the operator does not import the agent).
COSTS = {"busy": 1000, "starting": 100, "idle": 0, "draining": -100, "stopped": -100}
#: A pod whose agent could not be asked (no address yet, no answer, an
#: unexpected answer): after the idle ones, before the busy ones.
UNKNOWN_COST = 500
#: Pods asked at once, and the time each may take.
CONCURRENCY = 16
TIMEOUT_SECONDS = 2.0
#: A probe answer is one short line; more is not read.
MAX_ANSWER_BYTES = 1024

Fetch = Callable[[str], Awaitable[tuple[int, str]]]
"""``url -> (HTTP status, body)``; may raise on any network error."""

_STATE = re.compile(r"^agent (?P<state>[a-z]+)\b")


def deletion_cost(state: str | None) -> int:
    return COSTS.get(state or "", UNKNOWN_COST)


def deletion_costs(pod_states: Mapping[str, Any]) -> dict[str, int]:
    """Cost by pod name, from each pod's agent state: an ``AgentState``, its
    value (``"busy"``, ``"idle"``...), or ``None`` when unknown."""
    return {name: deletion_cost(_state_text(state)) for name, state in pod_states.items()}


def state_of_answer(status: int, body: str) -> str | None:
    """The agent state a probe answer names (``agent busy`` -> ``busy``)."""
    if status not in (200, 503):
        return None
    match = _STATE.match(body.strip())
    return match["state"] if match and match["state"] in COSTS else None


async def agent_states(
    pods: Iterable[dict[str, Any]],
    fetch: Fetch,
    *,
    port: int = partition.PROBE_PORT,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, str | None]:
    """The agent state of each pod (a Pod object as the API returns it),
    ``None`` where it cannot be known. Pods are asked concurrently, each for
    at most ``timeout`` seconds; one that fails is only unknown."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def ask(pod: dict[str, Any]) -> str | None:
        status = pod.get("status") or {}
        address = status.get("podIP")
        if not address or status.get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
            return None
        host = f"[{address}]" if ":" in address else address
        async with gate:
            try:
                answer = await asyncio.wait_for(fetch(f"http://{host}:{port}{STATE_PATH}"), timeout)
            except (TimeoutError, OSError, ValueError):
                return None
        return state_of_answer(*answer)

    listed = list(pods)
    states = await asyncio.gather(*(ask(pod) for pod in listed))
    return {pod["metadata"]["name"]: state for pod, state in zip(listed, states)}


def annotation_patches(pods: Iterable[dict[str, Any]], costs: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """The metadata patch of each pod whose annotation differs from its cost
    (an unchanged pod is not written again)."""
    patches = {}
    for pod in pods:
        name = pod["metadata"]["name"]
        if name not in costs:
            continue
        wanted = str(costs[name])
        if (pod["metadata"].get("annotations") or {}).get(ANNOTATION) != wanted:
            patches[name] = {"metadata": {"annotations": {ANNOTATION: wanted}}}
    return patches


def http_fetch(session: aiohttp.ClientSession) -> Fetch:
    """The GET of ``agent_states`` over an aiohttp session (kopf's HTTP
    library) that the operator opens once and closes on exit."""

    async def fetch(url: str) -> tuple[int, str]:
        try:
            async with session.get(url, allow_redirects=False) as response:
                body = await response.content.read(MAX_ANSWER_BYTES)
                return response.status, body.decode("utf-8", "replace")
        except aiohttp.ClientError as exc:
            raise OSError(f"GET {url}: {exc}") from exc

    return fetch


def _state_text(state: Any) -> str | None:
    if state is None:
        return None
    value = getattr(state, "value", state)  # an AgentState, or its value
    return str(value)
