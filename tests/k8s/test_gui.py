"""ArmoniKCluster spec.gui on a real API server: the operator runs ArmoniK's
Admin GUI beside the control plane, behind one Ingress routing the ArmoniK
services' paths to the control plane's gRPC-Web port, with its
NetworkPolicies; turned off, the Ingress goes and the HTTP port closes."""

from __future__ import annotations

from typing import Any

import pytest

from tests import servers
from tests.k8s import chart, controlplane, operator_process
from tests.k8s.test_operator import CONVERGE, exists, external_cluster, get, operator, owner_kinds

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300)]
__all__ = ["operator"]  # a module fixture of test_operator, used here too (crds is conftest's)


def with_gui(redis_url: str, enabled: bool = True) -> dict[str, Any]:
    cluster = external_cluster(redis_url)
    cluster["spec"]["gui"] = {"enabled": enabled, "ingress": {"className": "nginx", "host": "grid.example.com"}}
    return cluster


def _env(k8s: controlplane.ControlPlane, namespace: str) -> dict[str, Any]:
    pod = get(k8s, namespace, "deployment", "grid-control-plane")["spec"]["template"]["spec"]
    return {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}


def test_the_gui_runs_beside_the_control_plane_behind_one_ingress_and_goes_when_turned_off(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    k8s.apply(with_gui(redis_server), namespace=namespace)
    k8s.wait_for(lambda: exists(k8s, namespace, "ingress", "grid-gui"), timeout=CONVERGE)

    for kind in ("deployment", "service", "ingress", "networkpolicy"):
        assert owner_kinds(get(k8s, namespace, kind, "grid-gui")) == {"ArmoniKCluster"}, kind
    [rule] = get(k8s, namespace, "ingress", "grid-gui")["spec"]["rules"]
    backends = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert backends["/armonik.api.grpc.v1.sessions.Sessions"] == backends["/static"] == "grid-control-plane"
    assert backends["/"] == "grid-gui" and rule["host"] == "grid.example.com"
    ports = {p["name"]: p["port"] for p in get(k8s, namespace, "service", "grid-control-plane")["spec"]["ports"]}
    assert ports["http"] == 5000 and _env(k8s, namespace)["PYARMONIK_HTTP_PORT"] == "5000"
    policy_ports = {
        port["port"]
        for rule in get(k8s, namespace, "networkpolicy", "grid-control-plane")["spec"]["ingress"]
        for port in rule["ports"]
    }
    assert 5000 in policy_ports

    def gui_pod_running() -> bool:
        pods = get(k8s, namespace, "pods", "-l", "app.kubernetes.io/component=gui")["items"]
        return bool(pods) and all(p["status"].get("phase") == "Running" for p in pods)

    k8s.wait_for(gui_pod_running, timeout=CONVERGE, explain=lambda: k8s.describe(namespace, "deployments", "pods"))

    k8s.apply(with_gui(redis_server, enabled=False), namespace=namespace)
    k8s.wait_for(lambda: not exists(k8s, namespace, "ingress", "grid-gui"), timeout=CONVERGE)
    k8s.wait_for(lambda: _env(k8s, namespace)["PYARMONIK_HTTP_PORT"] == "off", timeout=CONVERGE)
    assert not exists(k8s, namespace, "networkpolicy", "grid-gui")
    ports = {p["name"] for p in get(k8s, namespace, "service", "grid-control-plane")["spec"]["ports"]}
    assert "http" not in ports


def test_the_readmes_helm_command_gives_the_cluster_its_gui() -> None:
    helm = chart.helm_binary()
    if helm is None:
        servers.skip_or_fail("no helm: build the test bed (python -m tests.k8s.testbed build) or put helm on PATH")
    objects = chart.render(
        helm,
        *("--set", "cluster.enabled=true", "--set", "cluster.spec.gui.enabled=true"),
        *("--set", "cluster.spec.gui.ingress.host=grid.example.com"),
    )
    [cluster] = [o for o in objects if o["kind"] == "ArmoniKCluster"]

    assert cluster["spec"]["gui"] == {"enabled": True, "ingress": {"host": "grid.example.com"}}
