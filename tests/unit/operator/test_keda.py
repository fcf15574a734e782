"""The KEDA ScaledObject of a partition: what it scales, on what, within which
bounds, and that KEDA's published schema accepts it (``tests.published_schemas``)."""

from __future__ import annotations

import copy
from typing import Any

import k8s_bodies
import pytest

from pyarmonik.operator.builders import keda
from tests import published_schemas


@pytest.fixture
def keda_partition(gpu_partition_body: dict[str, Any]) -> dict[str, Any]:
    gpu_partition_body["spec"]["autoscaling"] = {"enabled": True, "engine": "keda"}
    return gpu_partition_body


def _scaled(partition_body: dict[str, Any], cluster_body: dict[str, Any]) -> dict[str, Any]:
    return keda.build_scaled_object(
        k8s_bodies.parsed_partition(partition_body), k8s_bodies.parsed_cluster(cluster_body)
    )


def test_the_scaled_object_passes_kedas_published_schema(
    keda_partition: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    assert published_schemas.errors(_scaled(keda_partition, cluster_body)) == []


def test_every_field_set_passes_kedas_published_schema_too() -> None:
    scaled = _scaled(k8s_bodies.full_partition_body(), k8s_bodies.full_cluster_body())
    assert published_schemas.errors(scaled) == []


def test_the_published_schema_refuses_a_misspelt_field_and_a_number_for_a_string(
    keda_partition: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    scaled = _scaled(keda_partition, cluster_body)
    wrong = copy.deepcopy(scaled)
    wrong["spec"]["cooldownPerod"] = 10
    wrong["spec"]["triggers"][0]["metadata"]["threshold"] = 2
    found = published_schemas.errors(wrong)
    assert len(found) == 2
    assert "cooldownPerod" in found[0] and found[1].startswith("spec/triggers/0/metadata/threshold")


def test_keda_scales_the_partition_through_its_scale_subresource_not_its_deployment(
    keda_partition: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    scaled = _scaled(keda_partition, cluster_body)
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "pyarmonik.io/v1alpha1",
        "kind": "ArmoniKPartition",
        "name": "gpu",
    }
    assert scaled["metadata"]["name"] == "grid-partition-gpu"
    assert scaled["metadata"]["namespace"] == k8s_bodies.NAMESPACE
    assert scaled["metadata"]["labels"]["pyarmonik.io/partition"] == "gpu"


def test_the_bounds_threshold_and_cooldowns_are_the_partitions(
    keda_partition: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    keda_partition["spec"]["autoscaling"].update(
        targetTasksPerPod=5, scaleUpStep=3, scaleUpCooldownSeconds=20, scaleDownCooldownSeconds=900
    )
    spec = _scaled(keda_partition, cluster_body)["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 4)  # podReserved, podMax of the example
    assert spec["cooldownPeriod"] == 900
    [trigger] = spec["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"]["threshold"] == "5"
    assert trigger["metadata"]["ignoreNullValues"] == "false"
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == {
        "scaleUp": {
            "stabilizationWindowSeconds": 20,
            "policies": [{"type": "Pods", "value": 3, "periodSeconds": 15}],
        },
        "scaleDown": {"stabilizationWindowSeconds": 900},
    }


def test_a_cooldown_beyond_an_hour_is_the_longest_window_an_hpa_takes(
    keda_partition: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    keda_partition["spec"]["autoscaling"]["scaleDownCooldownSeconds"] = 7200
    spec = _scaled(keda_partition, cluster_body)["spec"]
    assert spec["cooldownPeriod"] == 7200
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"] == {
        "stabilizationWindowSeconds": 3600
    }


def test_the_default_query_counts_the_partitions_queued_and_leased_tasks_once(
    keda_partition: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    metadata = _scaled(keda_partition, cluster_body)["spec"]["triggers"][0]["metadata"]
    assert metadata["serverAddress"] == "http://prometheus-operated.monitoring.svc:9090"
    assert metadata["query"] == (
        "sum(max by (state) (pyarmonik_queue_tasks"
        '{namespace="science",pyarmonik_io_cluster="grid",partition="gpu",state=~"queued|leased"}))'
    )


def test_the_prometheus_address_query_and_authentication_can_be_given() -> None:
    trigger = _scaled(k8s_bodies.full_partition_body(), k8s_bodies.full_cluster_body())["spec"]["triggers"][0]
    assert trigger["metadata"]["serverAddress"] == "http://prometheus.observability.svc:9090"
    assert trigger["metadata"]["query"] == 'sum(pyarmonik_queue_tasks{partition="gpu_A100.large"})'
    assert trigger["authenticationRef"] == {"name": "prometheus-auth", "kind": "ClusterTriggerAuthentication"}


def test_a_partition_of_another_cluster_is_refused(
    keda_partition: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    keda_partition["spec"]["clusterRef"]["name"] = "other"
    with pytest.raises(ValueError, match="other"):
        _scaled(keda_partition, cluster_body)
