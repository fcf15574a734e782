"""``metrics.merged``: the one ``/metrics`` of ``pyarmonik local`` from the
pages of its control plane and agents, each a process with its registry."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pyarmonik import metrics


def _samples(page: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(page.decode())
        for s in family.samples
    }


async def test_the_same_series_of_several_registries_add_up_and_build_info_stays_one() -> None:
    control_plane, agents = metrics.Metrics(), [metrics.Metrics(), metrics.Metrics()]
    control_plane.rpc_served("armonik.api.grpc.v1.tasks.Tasks", "SubmitTasks", "OK", 0.01)
    states = ["idle", "busy"]
    for registry, state in zip(agents, states):
        registry.watch_agent("default", lambda state=state: state, states)
        registry.rpc_served("armonik.api.grpc.v1.agent.Agent", "NotifyResultData", "OK", 0.002)
    page = metrics.merged([await m.render() for m in [control_plane, *agents]])
    samples = _samples(page)
    notified = {"service": "armonik.api.grpc.v1.agent.Agent", "method": "NotifyResultData", "code": "OK"}
    assert samples[("pyarmonik_rpc_duration_seconds_count", frozenset(notified.items()))] == 2
    submitted = {"service": "armonik.api.grpc.v1.tasks.Tasks", "method": "SubmitTasks", "code": "OK"}
    assert samples[("pyarmonik_rpc_duration_seconds_count", frozenset(submitted.items()))] == 1
    for state in states:
        assert samples[("pyarmonik_partition_agents", frozenset({"partition": "default", "state": state}.items()))] == 1
    [value] = [v for key, v in samples.items() if key[0] == "pyarmonik_build_info"]
    assert value == 1
    assert page.count(b"# TYPE pyarmonik_rpc_duration_seconds histogram") == 1
