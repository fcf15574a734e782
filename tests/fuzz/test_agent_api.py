"""Every RPC of the Agent API a worker calls back, with random and mutated
valid requests (wrong and stale communication tokens among them) and with
bodies that are not protobuf, while a task runs and while none does: a
precise status, nothing buffered by a failure."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import bodies, draws, invariants, rpcs
from tests.fuzz.agent import VALID, RunningTask

pytestmark = pytest.mark.fuzz

AGENT_RPCS = rpcs.rpcs(rpcs.AGENT_API)


@pytest.mark.parametrize("rpc", AGENT_RPCS, ids=str)
def test_the_valid_request_of_each_agent_rpc_succeeds(
    agent: invariants.Target, running: RunningTask, rpc: rpcs.Rpc
) -> None:
    outcome = invariants.exercise(agent, rpc, VALID[rpc.name](running))
    expected = "UNIMPLEMENTED" if rpc.method.name in ("GetCommonData", "GetDirectData") else "OK"
    assert outcome.code.name == expected, f"{rpc.name}: {outcome.code.name} {outcome.details}"


@pytest.mark.parametrize("rpc", AGENT_RPCS, ids=str)
@given(data=st.data())
def test_random_agent_requests_get_a_precise_status(
    agent: invariants.Target, running: RunningTask, rpc: rpcs.Rpc, data: st.DataObject
) -> None:
    idle = data.draw(st.booleans(), label="no running task")
    with running.idle() if idle else contextlib.nullcontext():
        invariants.exercise(agent, rpc, draws.random_requests(data, rpc), **draws.call_options(data, rpc))


@pytest.mark.parametrize("rpc", AGENT_RPCS, ids=str)
@given(data=st.data())
def test_mutated_agent_requests_get_a_precise_status(
    agent: invariants.Target, running: RunningTask, rpc: rpcs.Rpc, data: st.DataObject
) -> None:
    requests = draws.mutated_requests(data, rpc, VALID[rpc.name](running), running.ids())
    invariants.exercise(agent, rpc, requests, **draws.call_options(data, rpc))


@pytest.mark.parametrize("rpc", AGENT_RPCS, ids=str)
@given(data=st.data())
def test_malformed_agent_bodies_are_invalid_argument(
    agent: invariants.Target, running: RunningTask, rpc: rpcs.Rpc, data: st.DataObject
) -> None:
    requests = draws.malformed_requests(data, rpc, VALID[rpc.name](running))
    idle = data.draw(st.booleans(), label="no running task")
    with running.idle() if idle else contextlib.nullcontext():
        outcome = invariants.exercise(agent, rpc, requests, raw=True)
    if bodies.malformed(requests[0], rpc.request):
        assert bodies.refused(rpc, outcome), f"{rpc.name}: {outcome.code.name} {outcome.details}"
