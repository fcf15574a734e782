"""The test bed is a real control plane: each test fails if a part of it is fake or missing."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from . import controlplane, nodes, testbed

pytestmark = pytest.mark.k8s

GPU_TOLERATION = {"key": nodes.GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}


def build_deployment(name: str, replicas: int) -> dict[str, Any]:
    container = {"name": "main", "image": "example.invalid/main:1", "resources": {"requests": {"cpu": "100m"}}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }


def build_gpu_pod(name: str, *, tolerate: bool) -> dict[str, Any]:
    gpu = {nodes.GPU_RESOURCE: "1"}
    container = {"name": "main", "image": "example.invalid/cuda:1", "resources": {"requests": gpu, "limits": gpu}}
    spec: dict[str, Any] = {"containers": [container]}
    if tolerate:
        spec["tolerations"] = [GPU_TOLERATION]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": spec}


def pods_of(k8s: controlplane.ControlPlane, namespace: str, app: str) -> list[dict[str, Any]]:
    return list(k8s.get("pods", "-n", namespace, "-l", f"app={app}")["items"])


def running_pods(k8s: controlplane.ControlPlane, namespace: str, app: str, count: int) -> list[dict[str, Any]]:
    """The pods of ``app`` once exactly ``count`` of them are Running, else ``[]`` (to poll on)."""
    found = pods_of(k8s, namespace, app)
    running = [pod for pod in found if pod["status"].get("phase") == "Running"]
    return running if len(found) == count and len(running) == count else []


def test_the_api_server_reports_the_version_it_was_built_as(k8s: controlplane.ControlPlane) -> None:
    version = json.loads(k8s.kubectl("get", "--raw", "/version").stdout)
    assert version["gitVersion"] == testbed.KUBERNETES_VERSION
    assert (version["major"], version["minor"]) == ("1", "34")


def test_kubectl_lists_the_four_fake_nodes_and_the_gpus_of_the_gpu_ones(k8s: controlplane.ControlPlane) -> None:
    listed = {node["metadata"]["name"]: node for node in k8s.get("nodes")["items"]}
    assert sorted(listed) == sorted(nodes.CPU_NODES + nodes.GPU_NODES)
    for name, node in listed.items():
        gpu = name in nodes.GPU_NODES
        assert node["status"]["allocatable"].get(nodes.GPU_RESOURCE) == (nodes.GPUS_PER_NODE if gpu else None)
        assert (node["metadata"]["labels"].get(nodes.GPU_LABEL[0]) == nodes.GPU_LABEL[1]) is gpu
        assert node["metadata"]["labels"]["type"] == "kwok"


def test_a_deployment_gets_a_replicaset_whose_pods_run_on_kwok_nodes(
    k8s: controlplane.ControlPlane, namespace: str
) -> None:
    k8s.apply(build_deployment("web", 3), namespace=namespace)
    replica_sets = k8s.wait_for(lambda: k8s.get("replicasets", "-n", namespace, "-l", "app=web")["items"])
    assert [owner["name"] for owner in replica_sets[0]["metadata"]["ownerReferences"]] == ["web"]
    pods = k8s.wait_for(lambda: running_pods(k8s, namespace, "web", 3))
    for pod in pods:
        assert pod["metadata"]["ownerReferences"][0]["name"] == replica_sets[0]["metadata"]["name"]
        assert pod["spec"]["nodeName"] in nodes.CPU_NODES
        assert pod["status"]["podIP"]


def test_pods_that_do_not_tolerate_the_gpu_taint_never_land_on_gpu_nodes(
    k8s: controlplane.ControlPlane, namespace: str
) -> None:
    # Eight pods on four equal nodes: the scheduler spreads them, so without
    # the taint some would surely land on a GPU node.
    k8s.apply(build_deployment("cpu-only", 8), namespace=namespace)
    pods = k8s.wait_for(lambda: running_pods(k8s, namespace, "cpu-only", 8))
    assert {pod["spec"]["nodeName"] for pod in pods} <= set(nodes.CPU_NODES)


def test_a_pod_requesting_a_gpu_with_the_toleration_runs_on_a_gpu_node(
    k8s: controlplane.ControlPlane, namespace: str
) -> None:
    k8s.apply(build_gpu_pod("cuda", tolerate=True), namespace=namespace)
    (pod,) = k8s.wait_for(lambda: running_pods(k8s, namespace, "cuda", 1))
    node = k8s.get("node", pod["spec"]["nodeName"])
    assert node["metadata"]["labels"][nodes.GPU_LABEL[0]] == nodes.GPU_LABEL[1]


def test_a_pod_requesting_a_gpu_without_the_toleration_is_unschedulable(
    k8s: controlplane.ControlPlane, namespace: str
) -> None:
    k8s.apply(build_gpu_pod("cuda", tolerate=False), namespace=namespace)

    def unschedulable() -> bool:
        (pod,) = pods_of(k8s, namespace, "cuda")
        conditions = {item["type"]: item for item in pod["status"].get("conditions", [])}
        return conditions.get("PodScheduled", {}).get("reason") == "Unschedulable"

    k8s.wait_for(unschedulable)
    (pod,) = pods_of(k8s, namespace, "cuda")
    assert "nodeName" not in pod["spec"]
    assert pod["status"]["phase"] == "Pending"


def test_deleting_a_deployment_garbage_collects_its_replicaset_and_pods(
    k8s: controlplane.ControlPlane, namespace: str
) -> None:
    k8s.apply(build_deployment("doomed", 2), namespace=namespace)
    k8s.wait_for(lambda: running_pods(k8s, namespace, "doomed", 2))
    k8s.kubectl("delete", "deployment", "doomed", "-n", namespace)

    def dependents_gone() -> bool:
        replica_sets = k8s.get("replicasets", "-n", namespace, "-l", "app=doomed")["items"]
        return not replica_sets and not pods_of(k8s, namespace, "doomed")

    k8s.wait_for(dependents_gone)


def test_helm_installs_a_chart_that_requires_kubernetes_1_34(
    k8s: controlplane.ControlPlane, namespace: str, tmp_path: pathlib.Path
) -> None:
    assert k8s.helm("version", "--short").stdout.startswith("v3.")
    k8s.helm("create", str(tmp_path / "demo"))
    chart = tmp_path / "demo" / "Chart.yaml"
    # Helm checks this against the server's /version: a v0.0.0-master build would be refused.
    chart.write_text(chart.read_text() + 'kubeVersion: ">=1.34.0-0"\n')
    k8s.helm("install", "demo", str(tmp_path / "demo"), "-n", namespace, "--wait", "--timeout", "60s")
    (release,) = json.loads(k8s.helm("list", "-n", namespace, "-o", "json").stdout)
    assert release["status"] == "deployed"
    assert k8s.get("deployment", "demo", "-n", namespace)["status"]["readyReplicas"] == 1
