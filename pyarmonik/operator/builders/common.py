"""Names, labels and metadata every child of a grid shares.

Child names derive from the cluster's name (``<cluster>-control-plane``,
``<cluster>-partition-<id>``...), so the operator finds its children again
without storing them; labels follow the recommended ``app.kubernetes.io/*``
set plus ``pyarmonik.io/cluster`` and ``pyarmonik.io/partition``. Selectors use
only labels that never change for a given child (a Deployment's selector is
immutable). Owner references are left to ``kopf.adopt``, hence
"owner-independent". Builders read resources parsed once
(:mod:`pyarmonik.operator.model`), never raw bodies.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pyarmonik.operator import model

APP = "pyarmonik"
MANAGED_BY = "pyarmonik-operator"
CLUSTER_LABEL = "pyarmonik.io/cluster"
PARTITION_LABEL = "pyarmonik.io/partition"
#: The component of partition pods (agent + worker); here rather than in
#: ``partition`` because the NetworkPolicies of the other components name them.
PARTITION_COMPONENT = "partition"
#: The agent's HTTP port: probes, ``/metrics`` and the state the autoscaler reads.
AGENT_PROBE_PORT = 8080
#: The user of the PyArmoniK image (its Dockerfile's ``armonik``), by number:
#: the kubelet can only check ``runAsNonRoot`` against a numeric user.
PYARMONIK_UID = 10001


def control_plane_name(cluster: str) -> str:
    return f"{cluster}-control-plane"


def redis_name(cluster: str) -> str:
    return f"{cluster}-redis"


def minio_name(cluster: str) -> str:
    return f"{cluster}-minio"


def minio_secret_name(cluster: str) -> str:
    return f"{cluster}-minio-credentials"


def grid_account_name(cluster: str) -> str:
    return f"{cluster}-grid"


def partition_name(cluster: str, partition_id: str) -> str:
    """``<cluster>-partition-<id>``. Partition ids may hold capitals, ``_`` and
    ``.``, which object names may not: such an id is lower-cased, ``-`` replaces
    the rest, and a hash of the exact id keeps ``A_b`` and ``a-b`` apart."""
    if re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", partition_id):
        return f"{cluster}-partition-{partition_id}"
    slug = re.sub(r"[^a-z0-9-]", "-", partition_id.lower()).strip("-")
    digest = hashlib.sha256(partition_id.encode()).hexdigest()[:8]
    return f"{cluster}-partition-{slug}-{digest}"


def selector_labels(cluster: str, component: str, partition_id: str | None = None) -> dict[str, str]:
    """The labels that select a child's pods; stable for the child's life."""
    labels = {
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/instance": cluster,
        "app.kubernetes.io/component": component,
    }
    if partition_id is not None:
        labels[PARTITION_LABEL] = partition_id
    return labels


def labels(cluster: str, component: str, partition_id: str | None = None) -> dict[str, str]:
    """Every label of a child and of its pods."""
    found = {**selector_labels(cluster, component), "app.kubernetes.io/managed-by": MANAGED_BY, CLUSTER_LABEL: cluster}
    if partition_id is not None:
        found[PARTITION_LABEL] = partition_id
    return found


def metadata(name: str, namespace: str, child_labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    """Copies the labels: objects built together share no dict, so patching
    one (as kopf.adopt does) cannot change another."""
    return {"name": name, "namespace": namespace, "labels": dict(child_labels), **extra}


def resources_of(spec_resources: dict[str, Any] | None) -> dict[str, Any]:
    """Container resources without empty sections."""
    return {part: dict(amounts) for part, amounts in (spec_resources or {}).items() if amounts}


def pull_secrets(spec: model.ClusterSpec) -> dict[str, Any]:
    """The ``imagePullSecrets`` entry of a pod spec, if the cluster has any."""
    secrets = spec.image_pull_secrets or []
    return {"imagePullSecrets": [{"name": secret.name} for secret in secrets]} if secrets else {}


def pod_security(uid: int) -> dict[str, Any]:
    """Pod security context of the grid's own pods (restricted Pod Security
    Standard); the data volumes are made writable for ``uid``."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security(uid: int | None = None) -> dict[str, Any]:
    """Container security context: no privilege, no capability, a read-only
    root filesystem (every write goes to a mounted volume)."""
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    if uid is not None:
        context.update(runAsNonRoot=True, runAsUser=uid, runAsGroup=uid, seccompProfile={"type": "RuntimeDefault"})
    return context


def pdb(name: str, namespace: str, child_labels: dict[str, str], selector: dict[str, str]) -> dict[str, Any]:
    """A budget letting node drains evict one pod at a time: never blocks a
    drain (unlike ``minAvailable: 1`` on a single replica)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, namespace, child_labels),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(selector)}},
    }


def volume_claim(size: str, storage_class: str | None, child_labels: dict[str, str]) -> dict[str, Any]:
    """The ``data`` volume claim template of a StatefulSet."""
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": "data", "labels": dict(child_labels)}, "spec": spec}


def single_statefulset(
    name: str,
    namespace: str,
    child_labels: dict[str, str],
    selector: dict[str, str],
    pod: dict[str, Any],
    claim: dict,
    *,
    persistence: model.Persistence,
) -> dict[str, Any]:
    """A one-replica StatefulSet (Redis, MinIO) governed by the Service of the
    same name, with one ``data`` volume. The volume's claim outlives the
    StatefulSet (hence the cluster) unless ``persistence.deleteWithCluster``:
    then the StatefulSet controller makes the StatefulSet its owner, and the
    garbage collector deletes it with the StatefulSet."""
    retention = "Delete" if persistence.delete_with_cluster else "Retain"
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(name, namespace, child_labels),
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": dict(selector)},
            "template": {"metadata": {"labels": dict(child_labels)}, "spec": pod},
            "volumeClaimTemplates": [claim],
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": retention, "whenScaled": "Retain"},
        },
    }


def service(
    name: str, namespace: str, child_labels: dict[str, str], selector: dict[str, str], ports: list[dict], **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, namespace, child_labels),
        "spec": {"selector": dict(selector), "ports": ports, **spec},
    }
