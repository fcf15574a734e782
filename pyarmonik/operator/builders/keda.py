"""The KEDA ScaledObject of a partition whose ``autoscaling.engine`` is ``keda``.

KEDA scales the ArmoniKPartition itself, through its ``/scale`` subresource
(``scaleTargetRef`` to the custom resource; KEDA reads ``status.selector``),
never the Deployment: the operator's reconcile derives the Deployment from
``spec.replicas`` and would undo a change made there. The settings mean what
they mean to the operator's own autoscaler (:mod:`pyarmonik.operator.autoscaler`):

- podReserved..podMax: ``minReplicaCount``..``maxReplicaCount`` (KEDA
  activates a partition at zero on its first task and returns it to zero
  ``cooldownPeriod`` after its last);
- targetTasksPerPod: the ``AverageValue`` threshold of a Prometheus trigger on
  the partition's tasks, queued and leased (``pyarmonik_queue_tasks``);
- scaleUpStep / scaleUpCooldownSeconds / scaleDownCooldownSeconds: the HPA
  behaviour KEDA creates (pods per period, stabilization windows).

``ignoreNullValues: "false"``: a query that finds no series (Prometheus not
scraping the grid, labels that differ) is an error on the ScaledObject, not
an empty queue that scales the partition down.
"""

from __future__ import annotations

from typing import Any

from pyarmonik.operator.builders import common, partition

API_VERSION = "keda.sh/v1alpha1"
KIND = "ScaledObject"
PARTITION_API_VERSION = "pyarmonik.io/v1alpha1"
PARTITION_KIND = "ArmoniKPartition"
#: Named by the metrics of the control plane: one gauge by partition and state.
QUEUE_METRIC = "pyarmonik_queue_tasks"
#: The label the chart's ServiceMonitor copies from the grid's Services
#: (``targetLabels: [pyarmonik.io/cluster]``, as Prometheus spells it).
CLUSTER_METRIC_LABEL = "pyarmonik_io_cluster"
POLLING_SECONDS = 15
#: The longest stabilization window an HPA accepts.
HPA_MAX_WINDOW_SECONDS = 3600


def queue_query(partition_body: common.Body, cluster_body: common.Body) -> str:
    """PromQL of the partition's tasks, queued and leased. Every control-plane
    replica reports the same counts (read from the grid's Redis), so the
    replicas are collapsed with ``max`` before the states are added."""
    labels = {
        "namespace": common.namespace_of(partition_body),
        CLUSTER_METRIC_LABEL: common.name_of(cluster_body),
        "partition": partition.partition_id(partition_body),
    }
    selector = ",".join(f'{name}="{_escaped(value)}"' for name, value in labels.items())
    return f'sum(max by (state) ({QUEUE_METRIC}{{{selector},state=~"queued|leased"}}))'


def build_scaled_object(partition_body: common.Body, cluster_body: common.Body) -> dict[str, Any]:
    spec = common.partition_spec(partition_body)
    auto, keda = spec["autoscaling"], spec["autoscaling"]["keda"]
    cluster = common.name_of(cluster_body)
    if spec["clusterRef"]["name"] != cluster:
        raise ValueError(f"partition {common.name_of(partition_body)} belongs to {spec['clusterRef']['name']}")
    labels = common.labels(cluster, partition.COMPONENT, spec["partitionId"])
    trigger: dict[str, Any] = {
        "type": "prometheus",
        "metricType": "AverageValue",
        "metadata": {
            "serverAddress": keda["prometheusAddress"],
            "query": keda.get("query") or queue_query(partition_body, cluster_body),
            "threshold": str(auto["targetTasksPerPod"]),
            "activationThreshold": "0",
            "ignoreNullValues": "false",
        },
    }
    if keda.get("authenticationRef"):
        trigger["authenticationRef"] = dict(keda["authenticationRef"])
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": common.metadata(
            common.partition_name(cluster, spec["partitionId"]), common.namespace_of(partition_body), labels
        ),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": PARTITION_API_VERSION,
                "kind": PARTITION_KIND,
                "name": common.name_of(partition_body),
            },
            "pollingInterval": POLLING_SECONDS,
            "cooldownPeriod": auto["scaleDownCooldownSeconds"],
            "minReplicaCount": spec["podReserved"],
            "maxReplicaCount": spec["podMax"],
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _behavior(auto)}},
            "triggers": [trigger],
        },
    }


def _behavior(auto: dict[str, Any]) -> dict[str, Any]:
    def window(seconds: int) -> int:
        return min(int(seconds), HPA_MAX_WINDOW_SECONDS)

    return {
        "scaleUp": {
            "stabilizationWindowSeconds": window(auto["scaleUpCooldownSeconds"]),
            "policies": [{"type": "Pods", "value": auto["scaleUpStep"], "periodSeconds": POLLING_SECONDS}],
        },
        "scaleDown": {"stabilizationWindowSeconds": window(auto["scaleDownCooldownSeconds"])},
    }


def _escaped(value: str) -> str:
    """A PromQL string literal's content (partition ids may hold ``.``, never quotes)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')
