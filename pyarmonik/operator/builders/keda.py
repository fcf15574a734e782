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

from pyarmonik.operator import model
from pyarmonik.operator.builders import common, partition

API_VERSION = "keda.sh/v1alpha1"
KIND = "ScaledObject"
#: Named by the metrics of the control plane: one gauge by partition and state.
QUEUE_METRIC = "pyarmonik_queue_tasks"
#: The label the chart's ServiceMonitor copies from the grid's Services
#: (``targetLabels: [pyarmonik.io/cluster]``, as Prometheus spells it).
CLUSTER_METRIC_LABEL = "pyarmonik_io_cluster"
POLLING_SECONDS = 15
#: The longest stabilization window an HPA accepts.
HPA_MAX_WINDOW_SECONDS = 3600


def queue_query(part: model.Partition, cluster: model.Cluster) -> str:
    """PromQL of the partition's tasks, queued and leased. Every control-plane
    replica reports the same counts (read from the grid's Redis), so the
    replicas are collapsed with ``max`` before the states are added."""
    labels = {"namespace": part.namespace, CLUSTER_METRIC_LABEL: cluster.name, "partition": part.partition_id}
    selector = ",".join(f'{name}="{_escaped(value)}"' for name, value in labels.items())
    return f'sum(max by (state) ({QUEUE_METRIC}{{{selector},state=~"queued|leased"}}))'


def build_scaled_object(part: model.Partition, cluster: model.Cluster) -> dict[str, Any]:
    spec = part.spec
    auto, keda = spec.autoscaling, spec.autoscaling.keda
    if spec.cluster_ref.name != cluster.name:
        raise ValueError(f"partition {part.name} belongs to {spec.cluster_ref.name}")
    labels = common.labels(cluster.name, partition.COMPONENT, spec.partition_id)
    trigger: dict[str, Any] = {
        "type": "prometheus",
        "metricType": "AverageValue",
        "metadata": {
            "serverAddress": keda.prometheus_address,
            "query": keda.query or queue_query(part, cluster),
            "threshold": str(auto.target_tasks_per_pod),
            "activationThreshold": "0",
            "ignoreNullValues": "false",
        },
    }
    if keda.authentication_ref:
        trigger["authenticationRef"] = keda.authentication_ref.model_dump(by_alias=True)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": common.metadata(common.partition_name(cluster.name, spec.partition_id), part.namespace, labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": part.api_version, "kind": part.kind, "name": part.name},
            "pollingInterval": POLLING_SECONDS,
            "cooldownPeriod": auto.scale_down_cooldown_seconds,
            "minReplicaCount": spec.pod_reserved,
            "maxReplicaCount": spec.pod_max,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _behavior(auto)}},
            "triggers": [trigger],
        },
    }


def _behavior(auto: model.Autoscaling) -> dict[str, Any]:
    def window(seconds: int) -> int:
        return min(int(seconds), HPA_MAX_WINDOW_SECONDS)

    return {
        "scaleUp": {
            "stabilizationWindowSeconds": window(auto.scale_up_cooldown_seconds),
            "policies": [{"type": "Pods", "value": auto.scale_up_step, "periodSeconds": POLLING_SECONDS}],
        },
        "scaleDown": {"stabilizationWindowSeconds": window(auto.scale_down_cooldown_seconds)},
    }


def _escaped(value: str) -> str:
    """A PromQL string literal's content (partition ids may hold ``.``, never quotes)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')
