"""The hardening the operator builds, against a real API server: its
NetworkPolicies are accepted and stored as built, every other child with
TLS and auth volumes passes server-side validation, and the CRD's security
rules refuse what they must (the CEL cost of each is accepted too, or the
CRD itself would be refused).

kwok nodes run no network plugin, so nothing here enforces a policy: what
the policies admit is the unit tests' (tests/unit/operator/test_network_policies.py).
"""

from __future__ import annotations

import copy
import json
import pathlib
from typing import Any

import pytest
import yaml

from pyarmonik.operator import model
from pyarmonik.operator.builders import cluster, object_storage, partition
from tests.k8s import controlplane

pytestmark = pytest.mark.k8s

ROOT = pathlib.Path(__file__).parents[2]
EXAMPLES = ROOT / "manifests" / "examples"
HARDENED = {
    "tls": {"secretName": "grid-tls", "clientAuth": True},
    "auth": {"configMapName": "grid-auth"},
    "networkPolicy": {
        "ingressFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
            {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
        ],
        "monitoringNamespaceSelector": {
            "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["obs"]}]
        },
    },
}


def _body(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    body["metadata"]["namespace"] = namespace
    body["spec"].update(copy.deepcopy(spec))
    return body


def _children(namespace: str, **cluster_spec: Any) -> list[dict[str, Any]]:
    grid = model.parse_cluster(_body("cluster.yaml", namespace, **cluster_spec))
    children = cluster.build_cluster_children(grid, secrets=object_storage.new_minio_credentials())
    for example in ("partition-cpu.yaml", "partition-gpu.yaml"):
        children += partition.build_partition_children(model.parse_partition(_body(example, namespace)), grid)
    return children


def _apply(k8s: controlplane.ControlPlane, objects: list[dict[str, Any]], *flags: str) -> Any:
    listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    return k8s.kubectl("apply", "--server-side", *flags, "-f", "-", input=listed, check=False)


@pytest.mark.parametrize("spec", [{}, HARDENED], ids=["defaults", "hardened"])
def test_the_api_server_stores_every_network_policy_as_built(
    k8s: controlplane.ControlPlane, namespace: str, spec: dict[str, Any]
) -> None:
    policies = [child for child in _children(namespace, **spec) if child["kind"] == "NetworkPolicy"]
    assert [policy["metadata"]["name"] for policy in policies] == [
        "grid-control-plane", "grid-redis", "grid-minio", "grid-partition-default", "grid-partition-gpu",
    ]  # fmt: skip
    result = _apply(k8s, policies)
    assert result.returncode == 0, result.stderr
    stored = {item["metadata"]["name"]: item["spec"] for item in k8s.get("networkpolicies", "-n", namespace)["items"]}
    assert stored == {policy["metadata"]["name"]: policy["spec"] for policy in policies}


def test_the_api_server_accepts_every_other_child_of_a_hardened_grid(
    k8s: controlplane.ControlPlane, namespace: str
) -> None:
    children = [child for child in _children(namespace, **HARDENED) if child["kind"] != "NetworkPolicy"]
    assert any("secret" in volume for child in children if child["kind"] == "Deployment"
               for volume in child["spec"]["template"]["spec"]["volumes"])  # fmt: skip
    result = _apply(k8s, children, "--dry-run=server")
    assert result.returncode == 0, result.stderr


def test_the_crd_accepts_a_hardened_cluster(crds: controlplane.ControlPlane, namespace: str) -> None:
    result = _apply(crds, [_body("cluster.yaml", namespace, **HARDENED)], "--dry-run=server")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"tls": {"secretName": "t"}, "auth": {"configMapName": "a"}}, "auth needs a way to identify callers"),
        ({"auth": {"configMapName": "a", "trustedProxyHeaders": True}}, "name the ingress in networkPolicy"),
        ({"tls": {"secretName": "t", "clientAuth": True}, "auth": {}}, "auth needs one of auth.configMapName"),
        ({"redis": {"mode": "external", "external": {"url": "redis://:pw@r:6379"}}}, "must not hold a password"),
        ({"tls": {"clientAuth": True}}, "secretName"),
    ],
    ids=["auth-without-mtls", "proxy-headers-without-ingress", "auth-without-source", "password-in-url", "no-secret"],
)
def test_the_crd_refuses_an_insecure_or_incomplete_security_spec(
    crds: controlplane.ControlPlane, namespace: str, spec: dict[str, Any], message: str
) -> None:
    result = _apply(crds, [_body("cluster.yaml", namespace, **spec)], "--dry-run=server")
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
