"""The GPU rule: GPU partitions tolerate the GPU taint and select GPU nodes;
CPU partitions get nothing GPU-related, so the taint keeps them away."""

from __future__ import annotations

from typing import Any

import k8s_bodies
import pytest

from pyarmonik.operator.builders import partition

TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _pod(partition_body: dict[str, Any], cluster_body: dict[str, Any]) -> dict[str, Any]:
    deployment = k8s_bodies.one(
        partition.build_partition_children(
            k8s_bodies.parsed_partition(partition_body), k8s_bodies.parsed_cluster(cluster_body)
        ),
        "Deployment",
    )
    return deployment["spec"]["template"]["spec"]


def test_a_gpu_partition_gets_the_gpu_toleration_and_node_selector(
    gpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    pod = _pod(gpu_partition_body, cluster_body)
    assert pod["tolerations"] == [TOLERATION]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}


def test_a_cpu_partition_gets_nothing_gpu_related(
    cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    pod = _pod(cpu_partition_body, cluster_body)
    assert "tolerations" not in pod and "nodeSelector" not in pod
    assert "nvidia" not in str(pod)


@pytest.mark.parametrize("part", ["requests", "limits"])
def test_a_gpu_in_requests_or_limits_makes_a_gpu_partition(
    part: str, cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    cpu_partition_body["spec"]["worker"]["resources"] = {part: {"nvidia.com/gpu": "1"}}
    if part == "requests":
        cpu_partition_body["spec"]["worker"]["resources"]["limits"] = {"nvidia.com/gpu": "1"}
    assert TOLERATION in _pod(cpu_partition_body, cluster_body)["tolerations"]


def test_zero_gpus_make_a_cpu_partition(cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]) -> None:
    cpu_partition_body["spec"]["worker"]["resources"] = {"limits": {"nvidia.com/gpu": 0}}
    assert "tolerations" not in _pod(cpu_partition_body, cluster_body)


def test_a_gpu_partition_keeps_its_own_gpu_toleration_and_node_selector(
    gpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    own = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    gpu_partition_body["spec"]["tolerations"] = [own]
    gpu_partition_body["spec"]["nodeSelector"] = {"nvidia.com/gpu.present": "yes", "pool": "a100"}
    pod = _pod(gpu_partition_body, cluster_body)
    assert pod["tolerations"] == [own]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "yes", "pool": "a100"}


def test_a_gpu_partition_adds_to_its_other_tolerations_and_selectors(
    full_partition_body: dict[str, Any], full_cluster_body: dict[str, Any]
) -> None:
    pod = _pod(full_partition_body, full_cluster_body)
    assert pod["tolerations"] == [*full_partition_body["spec"]["tolerations"], TOLERATION]
    assert pod["nodeSelector"] == {"pool": "gpu", "nvidia.com/gpu.present": "true"}


def test_the_gpu_rule_does_not_change_the_resource_it_reads(
    full_partition_body: dict[str, Any], full_cluster_body: dict[str, Any]
) -> None:
    tolerations = list(full_partition_body["spec"]["tolerations"])
    _pod(full_partition_body, full_cluster_body)
    assert full_partition_body["spec"]["tolerations"] == tolerations
    assert full_partition_body["spec"]["nodeSelector"] == {"pool": "gpu"}
