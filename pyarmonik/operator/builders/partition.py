"""Every child of an ArmoniKPartition: the agent + worker Deployment, its budget and NetworkPolicy.

A partition pod is ArmoniK's compute-plane pod: the PyArmoniK agent (which
takes tasks from the grid) and the user's worker (which runs them), talking
over unix sockets in the ``cache`` emptyDir they share with the task data
folders. The pod's grace period outlasts the agent's ``graceSeconds`` so a
stopping agent can finish or release its task before the kubelet kills it.

GPU rule: a worker that requests (or limits) ``nvidia.com/gpu`` gets the
toleration of the GPU taint and the ``nvidia.com/gpu.present: "true"`` node
selector (the NVIDIA GPU operator's label) unless the partition sets them
already; CPU partitions get neither, so the taint keeps them off GPU nodes.

Security: the agent is one of the grid's own processes (non-root user of the
PyArmoniK image, read-only root filesystem, no capability, RuntimeDefault
seccomp). The worker is the user's image: it gets no privilege escalation,
no capability and the pod's RuntimeDefault seccomp profile, but keeps its
image's user and a writable root filesystem, which the operator cannot know
to be safe to change (an image built to run as root, a worker writing to
``/tmp`` or its home). As it runs without ``CAP_DAC_OVERRIDE``, it writes its
results into the agent's data folders only as their owner: run it as the
agent's uid 10001, as ``docker/worker.Dockerfile`` does (ArmoniK's pods too
run agent and worker under one user).
"""

from __future__ import annotations

from typing import Any

from pyarmonik import settings
from pyarmonik.core import models
from pyarmonik.operator import env, fair_share
from pyarmonik.operator.builders import common, network, object_storage, redis

COMPONENT = common.PARTITION_COMPONENT
CACHE = "/cache"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
GPU_NODE_LABEL = "nvidia.com/gpu.present"
PROBE_PORT = common.AGENT_PROBE_PORT
#: Time the kubelet leaves the pod beyond the agent's own grace, for the
#: release of the task and the worker's exit.
EXTRA_GRACE_SECONDS = 15
#: Where the agent and the worker meet, as in ArmoniK's pods.
CHANNELS = {
    "agent_address": f"{CACHE}/armonik_agent.sock",
    "agent_socket_type": "unixdomainsocket",
    "worker_address": f"{CACHE}/armonik_worker.sock",
    "worker_socket_type": "unixdomainsocket",
}


def partition_id(partition_body: common.Body) -> str:
    return str(common.partition_spec(partition_body)["partitionId"])


def partition_record(partition_body: common.Body) -> models.Partition:
    """The partition as the grid's state store holds it (what
    ListPartitions shows and submissions are checked against)."""
    spec = common.partition_spec(partition_body)
    return models.Partition(
        partition_id=spec["partitionId"],
        parent_partition_ids=list(spec["parentPartitionIds"]),
        pod_reserved=spec["podReserved"],
        pod_max=spec["podMax"],
        preemption_percentage=spec["preemptionPercentage"],
        priority=spec["priority"],
        fair_share=fair_share.from_spec(spec),
    )


def desired_replicas(partition_body: common.Body) -> int:
    """``spec.replicas`` (``/scale``) kept within podReserved..podMax; when
    absent, podReserved."""
    spec = common.partition_spec(partition_body)
    wanted = spec.get("replicas", spec["podReserved"])
    return int(max(spec["podReserved"], min(wanted, spec["podMax"])))


def partition_selector(partition_body: common.Body, cluster_body: common.Body) -> str:
    """The pods' label selector as a string, for ``status.selector`` (which
    the scale subresource reports)."""
    labels = _selector(partition_body, cluster_body)
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def requests_gpu(partition_body: common.Body) -> bool:
    resources = common.partition_spec(partition_body)["worker"].get("resources") or {}
    amounts = [(resources.get(part) or {}).get(GPU_RESOURCE) for part in ("requests", "limits")]
    return any(amount not in (None, 0, "0") for amount in amounts)


def placement(partition_body: common.Body) -> dict[str, Any]:
    """nodeSelector, tolerations, affinity and classes of the pods, GPU rule applied."""
    spec = common.partition_spec(partition_body)
    node_selector = dict(spec.get("nodeSelector") or {})
    tolerations = [dict(toleration) for toleration in spec.get("tolerations") or []]
    if requests_gpu(partition_body):
        node_selector.setdefault(GPU_NODE_LABEL, "true")
        if not any(_tolerates_gpu(toleration) for toleration in tolerations):
            tolerations.append(dict(GPU_TOLERATION))
    found: dict[str, Any] = {"nodeSelector": node_selector, "tolerations": tolerations}
    for field in ("affinity", "priorityClassName", "runtimeClassName"):
        found[field] = spec.get(field)
    return {field: value for field, value in found.items() if value}


def agent_env(partition_body: common.Body, cluster_body: common.Body) -> list[dict[str, Any]]:
    cluster = common.cluster_spec(cluster_body)
    own = env.settings_env(
        settings.AgentSettings,
        partition=partition_id(partition_body),
        shared_dir=f"{CACHE}/shared",
        data_dir=f"{CACHE}/data",
        **CHANNELS,
        lease_seconds=cluster["lease"]["leaseSeconds"],
        grace_seconds=cluster["lease"]["graceSeconds"],
        log_level=cluster["logging"]["level"],
        log_format=cluster["logging"]["format"],
        probe_port=PROBE_PORT,
    )
    storage = redis.redis_env(cluster_body) + object_storage.object_storage_env(cluster_body)
    return env.merged(storage + own, common.partition_spec(partition_body)["agent"].get("env") or [])


def worker_env(partition_body: common.Body) -> list[dict[str, Any]]:
    """ArmoniK's ``ComputePlane__*`` channel variables, which ArmoniK workers read."""
    own = env.settings_env(settings.AgentSettings, **CHANNELS)
    return env.merged(own, common.partition_spec(partition_body)["worker"].get("env") or [])


def build_partition_deployment(partition_body: common.Body, cluster_body: common.Body) -> dict[str, Any]:
    cluster, namespace = _checked_cluster(partition_body, cluster_body), common.namespace_of(partition_body)
    labels = common.labels(cluster, COMPONENT, partition_id(partition_body))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": common.metadata(_name(partition_body, cluster_body), namespace, labels),
        "spec": {
            "replicas": desired_replicas(partition_body),
            "selector": {"matchLabels": _selector(partition_body, cluster_body)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": _pod(partition_body, cluster_body)},
        },
    }


def build_partition_pdb(partition_body: common.Body, cluster_body: common.Body) -> dict[str, Any]:
    cluster = _checked_cluster(partition_body, cluster_body)
    labels = common.labels(cluster, COMPONENT, partition_id(partition_body))
    name = _name(partition_body, cluster_body)
    return common.pdb(name, common.namespace_of(partition_body), labels, _selector(partition_body, cluster_body))


def build_partition_children(partition_body: common.Body, cluster_body: common.Body) -> list[dict[str, Any]]:
    """The partition's NetworkPolicy (before the pods it protects, unless its
    cluster turns them off), Deployment and PodDisruptionBudget."""
    return [
        *network.build_partition_policies(partition_body, cluster_body),
        build_partition_deployment(partition_body, cluster_body),
        build_partition_pdb(partition_body, cluster_body),
    ]


def _pod(partition_body: common.Body, cluster_body: common.Body) -> dict[str, Any]:
    cluster_spec = common.cluster_spec(cluster_body)
    grace = cluster_spec["lease"]["graceSeconds"] + EXTRA_GRACE_SECONDS
    return {
        "serviceAccountName": common.grid_account_name(common.name_of(cluster_body)),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": grace,
        # The worker's user is its image's; only the seccomp profile is pod-wide.
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        **common.pull_secrets(cluster_spec),
        **placement(partition_body),
        "containers": [_agent(partition_body, cluster_body), _worker(partition_body)],
        "volumes": [{"name": "cache", "emptyDir": {}}],
    }


def _agent(partition_body: common.Body, cluster_body: common.Body) -> dict[str, Any]:
    image = common.cluster_spec(cluster_body)["image"]

    def probe(path: str, **extra: Any) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "probes"}, "periodSeconds": 10, **extra}

    return {
        "name": "agent",
        "image": common.image_of(image),
        "imagePullPolicy": image["pullPolicy"],
        "command": ["pyarmonik", "agent"],
        "ports": [{"name": "probes", "containerPort": PROBE_PORT}],
        "env": agent_env(partition_body, cluster_body),
        "resources": common.resources_of(common.partition_spec(partition_body)["agent"].get("resources")),
        "startupProbe": probe("/readyz", failureThreshold=30),
        "livenessProbe": probe("/livez", failureThreshold=3),
        "readinessProbe": probe("/readyz", periodSeconds=5),
        "securityContext": common.container_security(common.PYARMONIK_UID),
        "volumeMounts": [{"name": "cache", "mountPath": CACHE}],
    }


def _worker(partition_body: common.Body) -> dict[str, Any]:
    worker = common.partition_spec(partition_body)["worker"]
    container: dict[str, Any] = {"name": "worker", "image": worker["image"]}
    for field in ("imagePullPolicy", "command", "args"):
        if worker.get(field):
            container[field] = worker[field]
    return {
        **container,
        "env": worker_env(partition_body),
        "resources": common.resources_of(worker.get("resources")),
        # Served by the agent (same network namespace): fails when the worker
        # stays unresponsive after an interrupted call, so the kubelet
        # restarts the stuck worker.
        "livenessProbe": {"httpGet": {"path": "/worker/livez", "port": PROBE_PORT}, "periodSeconds": 10},
        # The image's user and root filesystem: see the module's docstring.
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "cache", "mountPath": CACHE}],
    }


def _tolerates_gpu(toleration: dict[str, Any]) -> bool:
    """Already tolerated: a toleration of the GPU key, or one of every taint."""
    if toleration.get("key") == GPU_RESOURCE:
        return True
    return not toleration.get("key") and toleration.get("operator") == "Exists"


def _checked_cluster(partition_body: common.Body, cluster_body: common.Body) -> str:
    """The cluster's name, after checking it is the one the partition names."""
    wanted = common.partition_spec(partition_body)["clusterRef"]["name"]
    cluster = common.name_of(cluster_body)
    same_namespace = common.namespace_of(partition_body) == common.namespace_of(cluster_body)
    if wanted != cluster or not same_namespace:
        raise ValueError(f"partition {common.name_of(partition_body)} belongs to cluster {wanted}, not to {cluster}")
    return cluster


def _name(partition_body: common.Body, cluster_body: common.Body) -> str:
    return common.partition_name(common.name_of(cluster_body), partition_id(partition_body))


def _selector(partition_body: common.Body, cluster_body: common.Body) -> dict[str, str]:
    return common.selector_labels(common.name_of(cluster_body), COMPONENT, partition_id(partition_body))
