"""Every RPC of the client API, called with random and with mutated valid
requests, and with bodies that are not protobuf: a precise status, a live
server, nothing created by a failure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import bodies, draws, invariants, messages, rpcs
from tests.fuzz.world import VALID, World

pytestmark = pytest.mark.fuzz

CLIENT_RPCS = rpcs.rpcs(rpcs.CLIENT_API)


def valid_requests(world: World, rpc: rpcs.Rpc) -> list:
    build = VALID.get(rpc.name)
    return build(world) if build is not None else [messages.message_class(rpc.request)()]


@pytest.mark.parametrize("rpc", [r for r in CLIENT_RPCS if r.name in VALID], ids=str)
def test_the_valid_request_of_each_rpc_succeeds(control_plane: invariants.Target, world: World, rpc: rpcs.Rpc) -> None:
    """Mutations start from success, so each change is what a refusal is about."""
    world.ensure()
    outcome = invariants.exercise(control_plane, rpc, valid_requests(world, rpc))
    assert outcome.code.name == "OK" or outcome.closed == "OPEN", f"{rpc.name}: {outcome.code.name} {outcome.details}"


@pytest.mark.parametrize("rpc", CLIENT_RPCS, ids=str)
@given(data=st.data())
def test_random_requests_get_a_precise_status(
    control_plane: invariants.Target, rpc: rpcs.Rpc, data: st.DataObject
) -> None:
    invariants.exercise(control_plane, rpc, draws.random_requests(data, rpc), **draws.call_options(data, rpc))


@pytest.mark.parametrize("rpc", CLIENT_RPCS, ids=str)
@given(data=st.data())
def test_mutated_valid_requests_get_a_precise_status(
    control_plane: invariants.Target, world: World, rpc: rpcs.Rpc, data: st.DataObject
) -> None:
    with invariants.TALLY.timed("setup"):
        world.ensure()
        valid = valid_requests(world, rpc)
    requests = draws.mutated_requests(data, rpc, valid, world.ids())
    invariants.exercise(control_plane, rpc, requests, **draws.call_options(data, rpc))


@pytest.mark.parametrize("rpc", CLIENT_RPCS, ids=str)
@given(data=st.data())
def test_malformed_bodies_are_invalid_argument(
    control_plane: invariants.Target, world: World, rpc: rpcs.Rpc, data: st.DataObject
) -> None:
    with invariants.TALLY.timed("setup"):
        world.ensure()
        valid = valid_requests(world, rpc)
    requests = draws.malformed_requests(data, rpc, valid)
    outcome = invariants.exercise(control_plane, rpc, requests, raw=True)
    if bodies.malformed(requests[0], rpc.request):
        assert bodies.refused(rpc, outcome), f"{rpc.name}: {outcome.code.name} {outcome.details}"
