"""The autoscaler's writes against a real API server and ReplicaSet controller:
``/scale`` of an ArmoniKPartition, and deletion costs that make a scale-down
keep the busy pods (kwok runs the pods; no container runs)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import config

from pyarmonik.operator import kube, kube_scaling, model, pod_costs
from pyarmonik.operator.builders import common, partition

from . import chart, controlplane

pytestmark = [
    pytest.mark.k8s,
    # The test bed's kubeconfig skips TLS verification (its API server's certificate is self-signed).
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]


@pytest.fixture(scope="module")
def client(k8s: controlplane.ControlPlane) -> Iterator[kube.Kube]:
    for path in chart.CRD_FILES:
        k8s.kubectl("apply", "--server-side", "-f", str(path))
    k8s.wait_for(lambda: k8s.kubectl("get", "armonikpartitions", "-A", check=False).returncode == 0)
    api = config.new_client_from_config(config_file=str(k8s.kubeconfig))
    try:
        yield kube.Kube(api)
    finally:
        api.close()


def test_the_count_is_written_through_the_partitions_scale_subresource(
    k8s: controlplane.ControlPlane, client: kube.Kube, namespace: str
) -> None:
    body = {
        "apiVersion": "pyarmonik.io/v1alpha1",
        "kind": "ArmoniKPartition",
        "metadata": {"name": "cpu", "namespace": namespace},
        "spec": {"clusterRef": {"name": "grid"}, "worker": {"image": "w:1"}, "podReserved": 0, "podMax": 8},
    }
    k8s.apply(body, namespace=namespace)
    kube_scaling.patch_scale(client, model.parse_partition(body), 5)
    stored = k8s.get("armonikpartition", "cpu", "-n", namespace)
    assert stored["spec"]["replicas"] == 5
    assert model.parse_partition(stored).spec.desired_replicas == 5
    path = f"/apis/pyarmonik.io/v1alpha1/namespaces/{namespace}/armonikpartitions/cpu/scale"
    scale = json.loads(k8s.kubectl("get", "--raw", path).stdout)
    assert scale["kind"] == "Scale" and scale["spec"] == {"replicas": 5}


def _bodies(namespace: str) -> tuple[model.Partition, model.Cluster]:
    """A partition ``cpu`` of a cluster ``grid``, as the operator reads them."""
    cluster = {"metadata": {"name": "grid", "namespace": namespace}, "spec": {}}
    part = {
        "metadata": {"name": "cpu", "namespace": namespace},
        "spec": {"clusterRef": {"name": "grid"}, "worker": {"image": "w:1"}},
    }
    return model.parse_partition(part), model.parse_cluster(cluster)


def _deployment(namespace: str, replicas: int) -> dict[str, Any]:
    """Pods labelled as the partition's Deployment labels them (its selector)."""
    labels = common.selector_labels("grid", partition.COMPONENT, "cpu")
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "agents", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "agent", "image": "pyarmonik:test"}]},
            },
        },
    }


def _ready_pods(k8s: controlplane.ControlPlane, namespace: str) -> list[dict[str, Any]]:
    pods = k8s.get("pods", "-n", namespace)["items"]
    return [
        pod
        for pod in pods
        if not pod["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])
    ]


def _wait_ready(k8s: controlplane.ControlPlane, namespace: str, count: int) -> list[dict[str, Any]]:
    def ready() -> list[dict[str, Any]] | None:
        pods = _ready_pods(k8s, namespace)
        everything = k8s.get("pods", "-n", namespace)["items"]
        return pods if len(pods) == count == len(everything) else None

    return k8s.wait_for(ready, 60)


def test_a_scale_down_removes_the_idle_pods_and_keeps_the_busy_ones(
    k8s: controlplane.ControlPlane, client: kube.Kube, namespace: str
) -> None:
    # Two pods, then two more: without costs the ReplicaSet removes the newer
    # ones first (ready for less time), and those are the busy ones here.
    k8s.apply(_deployment(namespace, 2), namespace=namespace)
    older = {pod["metadata"]["name"] for pod in _wait_ready(k8s, namespace, 2)}
    k8s.kubectl("scale", "deployment", "agents", "-n", namespace, "--replicas=4")
    pods = _wait_ready(k8s, namespace, 4)
    names = {pod["metadata"]["name"] for pod in pods}
    busy = names - older
    answers = {name: "agent busy" if name in busy else "agent idle" for name in names}
    by_ip = {pod["status"]["podIP"]: pod["metadata"]["name"] for pod in pods}

    async def fetch(url: str) -> tuple[int, str]:
        return 200, answers[by_ip[url.split("//")[1].rsplit(":", 1)[0]]]

    part, cluster = _bodies(namespace)
    costs = asyncio.run(kube_scaling.mark_deletion_costs(client, fetch, part, cluster))
    assert {name for name, cost in costs.items() if cost == pod_costs.COSTS["busy"]} == busy
    k8s.kubectl("scale", "deployment", "agents", "-n", namespace, "--replicas=2")
    left = _wait_ready(k8s, namespace, 2)
    assert {pod["metadata"]["name"] for pod in left} == busy
    kept = {pod["metadata"]["name"]: pod["metadata"]["annotations"][pod_costs.ANNOTATION] for pod in left}
    assert kept == dict.fromkeys(busy, "1000")
