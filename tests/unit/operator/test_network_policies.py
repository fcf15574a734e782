"""The grid's NetworkPolicies: who may reach each component, on which port.

Selectors are checked against the labels the builders give the pods, so a
renamed label cannot leave a policy selecting nothing (or admitting no one).
"""

from __future__ import annotations

from typing import Any

import k8s_bodies
import pytest

from pyarmonik.operator import specs
from pyarmonik.operator.builders import cluster, common, partition

DNS = {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
EVERY_POD_OF_THE_NAMESPACE = {"podSelector": {}}
MONITORING = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


def _policies(cluster_body: dict[str, Any], credentials: dict[str, str]) -> dict[str, dict[str, Any]]:
    children = cluster.build_cluster_children(k8s_bodies.parsed_cluster(cluster_body), secrets=credentials)
    return {policy["metadata"]["name"]: policy["spec"] for policy in k8s_bodies.of_kind(children, "NetworkPolicy")}


def _pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def _selects(peer: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a same-namespace podSelector peer selects pods labelled ``labels``."""
    return "namespaceSelector" not in peer and peer["podSelector"]["matchLabels"].items() <= labels.items()


def _agents(cluster_name: str) -> dict[str, Any]:
    """Every partition pod of the cluster."""
    return {"podSelector": {"matchLabels": common.selector_labels(cluster_name, "partition")}}


def _tcp(port: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port}]


def test_the_control_plane_api_admits_the_agents_and_the_namespace_and_monitoring_its_metrics(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    policy = _policies(cluster_body, credentials)["grid-control-plane"]
    assert policy["podSelector"] == {"matchLabels": common.selector_labels("grid", "control-plane")}
    api, metrics = policy["ingress"]
    assert api == {"from": [_agents("grid"), EVERY_POD_OF_THE_NAMESPACE], "ports": _tcp(5001)}
    assert metrics == {"from": [MONITORING], "ports": _tcp(9090)}


def test_a_control_plane_on_managed_storage_may_reach_only_dns_redis_and_minio(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    policy = _policies(cluster_body, credentials)["grid-control-plane"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    dns, to_redis, to_minio = policy["egress"]
    assert dns == DNS
    assert to_redis == {"to": [{"podSelector": {"matchLabels": common.selector_labels("grid", "redis")}}],
                        "ports": _tcp(6379)}  # fmt: skip
    assert to_minio["to"] == [{"podSelector": {"matchLabels": common.selector_labels("grid", "object-storage")}}]
    assert to_minio["ports"] == _tcp(9000)


def test_redis_admits_the_control_plane_the_agents_and_the_operator_and_reaches_only_dns(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    policy = _policies(cluster_body, credentials)["grid-redis"]
    assert policy["podSelector"] == {"matchLabels": common.selector_labels("grid", "redis")}
    (rule,) = policy["ingress"]
    plane, agents, *operator = rule["from"]
    assert operator == specs.DEFAULT_OPERATOR_PEERS
    assert rule["ports"] == _tcp(6379)
    assert (policy["policyTypes"], policy["egress"]) == (["Ingress", "Egress"], [DNS])
    children = cluster.build_cluster_children(k8s_bodies.parsed_cluster(cluster_body), secrets=credentials)
    assert _selects(plane, _pod_labels(k8s_bodies.named(children, "Deployment", "grid-control-plane")))
    assert _selects(agents, {**common.labels("grid", "partition", "any"), "extra": "label"})


def test_minio_admits_the_control_plane_and_the_agents_on_its_s3_port_only(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    policy = _policies(cluster_body, credentials)["grid-minio"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == _tcp(9000)  # not the console: kubectl port-forward reaches it
    assert [peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule["from"]] == [
        "control-plane",
        "partition",
    ]
    assert policy["egress"] == [DNS]


@pytest.mark.parametrize("example", ["partition-cpu.yaml", "partition-gpu.yaml"])
def test_the_agents_probe_port_admits_the_operator_and_monitoring_and_their_egress_stays_open(
    example: str, cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    children = partition.build_partition_children(
        k8s_bodies.parsed_partition(k8s_bodies.load_example(example)), k8s_bodies.parsed_cluster(cluster_body)
    )
    policy = k8s_bodies.one(children, "NetworkPolicy")["spec"]
    deployment = k8s_bodies.one(children, "Deployment")
    assert policy["podSelector"] == {"matchLabels": deployment["spec"]["selector"]["matchLabels"]}
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["ingress"] == [{"from": [*specs.DEFAULT_OPERATOR_PEERS, MONITORING], "ports": _tcp(8080)}]
    (api,) = [rule for rule in _policies(cluster_body, credentials)["grid-control-plane"]["ingress"]
              if rule["ports"] == _tcp(5001)]  # fmt: skip
    assert _selects(api["from"][0], _pod_labels(deployment))


def test_a_control_plane_on_external_storage_keeps_its_egress_and_admits_the_peers_given(
    full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    policies = _policies(full_cluster_body, credentials)
    assert set(policies) == {"big-control-plane"}
    policy = policies["big-control-plane"]
    assert policy["policyTypes"] == ["Ingress"] and "egress" not in policy
    api, metrics = policy["ingress"]
    assert api["from"] == [_agents("big"), *full_cluster_body["spec"]["networkPolicy"]["ingressFrom"]]
    assert api["ports"] == _tcp(6000)
    selector = full_cluster_body["spec"]["networkPolicy"]["monitoringNamespaceSelector"]
    assert metrics == {"from": [{"namespaceSelector": selector}], "ports": _tcp(9090)}


def test_an_empty_ingress_from_admits_the_agents_only(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    cluster_body["spec"]["networkPolicy"] = {"ingressFrom": []}
    api = _policies(cluster_body, credentials)["grid-control-plane"]["ingress"][0]
    assert api["from"] == [_agents("grid")]


def test_trusted_proxy_headers_admit_the_ingress_alone_not_even_the_agents(
    full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    # Whoever reaches the port may send the identity headers.
    full_cluster_body["spec"]["auth"]["trustedProxyHeaders"] = True
    ingress = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    full_cluster_body["spec"]["networkPolicy"]["ingressFrom"] = ingress
    api, _ = _policies(full_cluster_body, credentials)["big-control-plane"]["ingress"]
    assert api["from"] == ingress
    del full_cluster_body["spec"]["networkPolicy"]["ingressFrom"]
    rules = _policies(full_cluster_body, credentials)["big-control-plane"]["ingress"]
    assert [rule["ports"] for rule in rules] == [_tcp(9090)], "no peer named: nobody reaches the API"


def test_the_operator_peers_follow_the_spec(cluster_body: dict[str, Any], credentials: dict[str, str]) -> None:
    own = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}, "podSelector": {}}]
    cluster_body["spec"]["networkPolicy"] = {"operatorFrom": own}
    (rule,) = _policies(cluster_body, credentials)["grid-redis"]["ingress"]
    assert rule["from"][2:] == own
    policy = k8s_bodies.one(
        partition.build_partition_children(
            k8s_bodies.parsed_partition(k8s_bodies.load_example("partition-cpu.yaml")),
            k8s_bodies.parsed_cluster(cluster_body),
        ),
        "NetworkPolicy",
    )
    assert policy["spec"]["ingress"][0]["from"] == [*own, MONITORING]


def test_disabled_network_policies_are_not_built(
    cluster_body: dict[str, Any], cpu_partition_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    cluster_body["spec"]["networkPolicy"] = {"enabled": False}
    assert _policies(cluster_body, credentials) == {}
    assert not k8s_bodies.of_kind(
        partition.build_partition_children(
            k8s_bodies.parsed_partition(cpu_partition_body), k8s_bodies.parsed_cluster(cluster_body)
        ),
        "NetworkPolicy",
    )


def test_no_rule_has_an_empty_peer_list_which_would_admit_everyone(
    cluster_body: dict[str, Any], full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    full_cluster_body["spec"]["networkPolicy"] = {"ingressFrom": [], "operatorFrom": []}
    for body in (cluster_body, full_cluster_body):
        for policy in _policies(body, credentials).values():
            assert policy["podSelector"]["matchLabels"], "a policy selects one component's pods"
            for rule in policy["ingress"]:
                assert rule["from"] and rule["ports"]
            for rule in policy.get("egress", []):
                assert rule == DNS or (rule["to"] and rule["ports"])


def test_the_policies_come_before_the_pods_they_protect(
    cluster_body: dict[str, Any], cpu_partition_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    kinds = [
        kind
        for kind, _ in k8s_bodies.kinds(
            cluster.build_cluster_children(k8s_bodies.parsed_cluster(cluster_body), secrets=credentials)
        )
    ]
    assert kinds.index("NetworkPolicy") < min(kinds.index("StatefulSet"), kinds.index("Deployment"))
    kinds = [
        kind
        for kind, _ in k8s_bodies.kinds(
            partition.build_partition_children(
                k8s_bodies.parsed_partition(cpu_partition_body), k8s_bodies.parsed_cluster(cluster_body)
            )
        )
    ]
    assert kinds[0] == "NetworkPolicy"
