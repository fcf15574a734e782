"""Every pod the operator builds, walked: the grid's own containers (control
plane, Redis, MinIO, agent) meet the restricted Pod Security Standard and
more (non-root, read-only root filesystem, no capability, no privilege
escalation, RuntimeDefault seccomp); the user's worker gets what needs no
knowledge of its image (no capability, no escalation, the seccomp profile)
and keeps its image's user (``builders/partition.py`` says why)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import k8s_bodies
import pytest

from pyarmonik.operator.builders import cluster, object_storage, partition

#: The user's container, whose user and root filesystem are its image's.
USERS_CONTAINERS = {"worker"}
#: Fields the pod's securityContext gives every container that does not set them.
POD_WIDE = ("runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile")


def _grids() -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Both example partitions (CPU and GPU) on the managed example cluster,
    and the GPU partition with every field set on the external, TLS cluster."""
    yield (
        k8s_bodies.load_example("cluster.yaml"),
        [
            k8s_bodies.load_example("partition-cpu.yaml"),
            k8s_bodies.load_example("partition-gpu.yaml"),
        ],
    )
    yield k8s_bodies.full_cluster_body(), [k8s_bodies.full_partition_body()]


def _pods() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for cluster_body, partitions in _grids():
        grid = k8s_bodies.parsed_cluster(cluster_body)
        children = cluster.build_cluster_children(grid, secrets=object_storage.new_minio_credentials())
        for partition_body in partitions:
            children += partition.build_partition_children(k8s_bodies.parsed_partition(partition_body), grid)
        for child in children:
            if child["kind"] in ("Deployment", "StatefulSet"):
                found.append((f"{child['kind']}/{child['metadata']['name']}", child["spec"]["template"]["spec"]))
    return found


PODS = _pods()


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def _effective(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """The container's security context with what it inherits from the pod's."""
    inherited = {key: value for key, value in (pod.get("securityContext") or {}).items() if key in POD_WIDE}
    return {**inherited, **(container.get("securityContext") or {})}


def test_the_walk_covers_every_component_and_both_cpu_and_gpu_partitions() -> None:
    names = {container["name"] for _, pod in PODS for container in _containers(pod)}
    assert names == {"control-plane", "redis", "minio", "agent", "worker"}
    gpu_pods = [pod for _, pod in PODS if "nvidia.com/gpu" in str(pod["containers"])]
    assert len(gpu_pods) == 2 and len([name for name, _ in PODS if "-partition-" in name]) == 3


@pytest.mark.parametrize(("name", "pod"), PODS, ids=[name for name, _ in PODS])
def test_every_pod_runs_under_runtime_default_seccomp_without_host_namespaces_or_token(
    name: str, pod: dict[str, Any]
) -> None:
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert not any(pod.get(field) for field in ("hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace"))
    assert not [volume for volume in pod.get("volumes", []) if "hostPath" in volume]


@pytest.mark.parametrize(("name", "pod"), PODS, ids=[name for name, _ in PODS])
def test_no_container_may_escalate_or_keeps_a_capability(name: str, pod: dict[str, Any]) -> None:
    for container in _containers(pod):
        context = _effective(pod, container)
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert not context.get("privileged"), container["name"]
        assert context.get("seccompProfile", {"type": "RuntimeDefault"}) == {"type": "RuntimeDefault"}


@pytest.mark.parametrize(("name", "pod"), PODS, ids=[name for name, _ in PODS])
def test_the_grids_own_containers_run_as_a_numeric_non_root_user_on_a_read_only_root(
    name: str, pod: dict[str, Any]
) -> None:
    for container in _containers(pod):
        if container["name"] in USERS_CONTAINERS:
            continue
        context = _effective(pod, container)
        assert context["runAsNonRoot"] is True, container["name"]
        # The kubelet can check runAsNonRoot only against a number.
        assert isinstance(context["runAsUser"], int) and context["runAsUser"] > 0, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]


def test_the_worker_keeps_its_images_user_and_root_filesystem(
    cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    children = partition.build_partition_children(
        k8s_bodies.parsed_partition(cpu_partition_body), k8s_bodies.parsed_cluster(cluster_body)
    )
    deployment = k8s_bodies.one(children, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert not {"runAsUser", "runAsNonRoot"} & set(pod["securityContext"])
    worker = k8s_bodies.container(deployment, "worker")["securityContext"]
    assert worker == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
