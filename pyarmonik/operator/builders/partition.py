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

Restarts: a given ``worker.command`` runs under a small shell supervisor
(``worker_supervisor``) that gives the worker a new process when its agent
asks, after a TIMEOUT or a cancel left the old one busy: the container keeps
running, so the kubelet's back-off (CrashLoopBackOff) never counts the
restarts a client's tasks cause. The worker's liveness probe stays as the
last resort, for a worker without a command or that nothing restarted.
"""

from __future__ import annotations

import copy
from typing import Any

from pyarmonik import settings
from pyarmonik.core import models
from pyarmonik.operator import env, fair_share, model
from pyarmonik.operator.builders import common, network, object_storage, redis, worker_supervisor

COMPONENT = common.PARTITION_COMPONENT
CACHE = "/cache"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
GPU_NODE_LABEL = "nvidia.com/gpu.present"
PROBE_PORT = common.AGENT_PROBE_PORT
#: Time the kubelet leaves the pod beyond the agent's own grace, for the
#: release of the task and the worker's exit.
EXTRA_GRACE_SECONDS = 15
#: Where the agent asks the worker's supervisor for a new worker process.
RESTART_FILE = f"{CACHE}/worker.restart"
#: Where the agent and the worker meet, as in ArmoniK's pods.
CHANNELS = {
    "agent_address": f"{CACHE}/armonik_agent.sock",
    "agent_socket_type": "unixdomainsocket",
    "worker_address": f"{CACHE}/armonik_worker.sock",
    "worker_socket_type": "unixdomainsocket",
}


def partition_record(part: model.Partition) -> models.Partition:
    """The partition as the grid's state store holds it (what
    ListPartitions shows and submissions are checked against)."""
    spec = part.spec
    return models.Partition(
        partition_id=spec.partition_id,
        parent_partition_ids=list(spec.parent_partition_ids),
        pod_reserved=spec.pod_reserved,
        pod_max=spec.pod_max,
        preemption_percentage=spec.preemption_percentage,
        priority=spec.priority,
        fair_share=fair_share.from_spec(spec.fair_share.model_dump(exclude_none=True)),
    )


def partition_selector(part: model.Partition, cluster: model.Cluster) -> str:
    """The pods' label selector as a string, for ``status.selector`` (which
    the scale subresource reports)."""
    labels = _selector(part, cluster)
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def requests_gpu(part: model.Partition) -> bool:
    resources = part.spec.worker.resources or {}
    amounts = [(resources.get(section) or {}).get(GPU_RESOURCE) for section in ("requests", "limits")]
    return any(amount not in (None, 0, "0") for amount in amounts)


def placement(part: model.Partition) -> dict[str, Any]:
    """nodeSelector, tolerations, affinity and classes of the pods, GPU rule applied."""
    spec = part.spec
    node_selector = dict(spec.node_selector or {})
    tolerations = [dict(toleration) for toleration in spec.tolerations or []]
    if requests_gpu(part):
        node_selector.setdefault(GPU_NODE_LABEL, "true")
        if not any(_tolerates_gpu(toleration) for toleration in tolerations):
            tolerations.append(dict(GPU_TOLERATION))
    found: dict[str, Any] = {
        "nodeSelector": node_selector,
        "tolerations": tolerations,
        "affinity": copy.deepcopy(spec.affinity),
        "priorityClassName": spec.priority_class_name,
        "runtimeClassName": spec.runtime_class_name,
    }
    return {field: value for field, value in found.items() if value}


def agent_env(part: model.Partition, cluster: model.Cluster) -> list[dict[str, Any]]:
    spec = cluster.spec
    own = env.settings_env(
        settings.AgentSettings,
        partition=part.partition_id,
        shared_dir=f"{CACHE}/shared",
        data_dir=f"{CACHE}/data",
        **CHANNELS,
        lease_seconds=spec.lease.lease_seconds,
        heartbeat_seconds=spec.lease.heartbeat_seconds,
        grace_seconds=spec.lease.grace_seconds,
        log_level=spec.logging.level,
        log_format=spec.logging.format,
        probe_port=PROBE_PORT,
        worker_restart_file=RESTART_FILE if restarts_in_place(part) else None,
    )
    storage = redis.redis_env(cluster) + object_storage.object_storage_env(cluster)
    return env.merged(storage + own, part.spec.agent.env or [])


def worker_env(part: model.Partition) -> list[dict[str, Any]]:
    """ArmoniK's ``ComputePlane__*`` channel variables, which ArmoniK workers read."""
    own = env.settings_env(settings.AgentSettings, **CHANNELS)
    return env.merged(own, part.spec.worker.env or [])


def build_partition_deployment(part: model.Partition, cluster: model.Cluster) -> dict[str, Any]:
    _check_cluster(part, cluster)
    labels = common.labels(cluster.name, COMPONENT, part.partition_id)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": common.metadata(_name(part, cluster), part.namespace, labels),
        "spec": {
            "replicas": part.spec.desired_replicas,
            "selector": {"matchLabels": _selector(part, cluster)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": _pod(part, cluster)},
        },
    }


def build_partition_pdb(part: model.Partition, cluster: model.Cluster) -> dict[str, Any]:
    _check_cluster(part, cluster)
    labels = common.labels(cluster.name, COMPONENT, part.partition_id)
    return common.pdb(_name(part, cluster), part.namespace, labels, _selector(part, cluster))


def build_partition_children(part: model.Partition, cluster: model.Cluster) -> list[dict[str, Any]]:
    """The partition's NetworkPolicy (before the pods it protects, unless its
    cluster turns them off), Deployment and PodDisruptionBudget; sharing no
    dict with the parsed resources."""
    return copy.deepcopy(
        [
            *network.build_partition_policies(part, cluster),
            build_partition_deployment(part, cluster),
            build_partition_pdb(part, cluster),
        ]
    )


def _pod(part: model.Partition, cluster: model.Cluster) -> dict[str, Any]:
    spec = cluster.spec
    return {
        "serviceAccountName": common.grid_account_name(cluster.name),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": spec.lease.grace_seconds + EXTRA_GRACE_SECONDS,
        # The worker's user is its image's; only the seccomp profile is pod-wide.
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        **common.pull_secrets(spec),
        **placement(part),
        "containers": [_agent(part, cluster), _worker(part)],
        "volumes": [{"name": "cache", "emptyDir": {}}],
    }


def _agent(part: model.Partition, cluster: model.Cluster) -> dict[str, Any]:
    image = cluster.spec.image

    def probe(path: str, **extra: Any) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "probes"}, "periodSeconds": 10, **extra}

    return {
        "name": "agent",
        "image": image.reference,
        "imagePullPolicy": image.pull_policy,
        "command": ["pyarmonik", "agent"],
        "ports": [{"name": "probes", "containerPort": PROBE_PORT}],
        "env": agent_env(part, cluster),
        "resources": common.resources_of(part.spec.agent.resources),
        "startupProbe": probe("/readyz", failureThreshold=30),
        "livenessProbe": probe("/livez", failureThreshold=3),
        "readinessProbe": probe("/readyz", periodSeconds=5),
        "securityContext": common.container_security(common.PYARMONIK_UID),
        "volumeMounts": [{"name": "cache", "mountPath": CACHE}],
    }


def restarts_in_place(part: model.Partition) -> bool:
    """Whether the worker runs under the shell supervisor (``worker_supervisor``),
    which its agent asks for a new worker process after a call it abandoned:
    only a given ``worker.command`` can be wrapped (an image's own entrypoint
    is not known here)."""
    return bool(part.spec.worker.command)


def _worker(part: model.Partition) -> dict[str, Any]:
    worker = part.spec.worker
    container: dict[str, Any] = {"name": "worker", "image": worker.image}
    for field, value in (("imagePullPolicy", worker.image_pull_policy), ("command", worker.command),
                         ("args", worker.args)):  # fmt: skip
        if value:
            container[field] = list(value) if isinstance(value, list) else value
    if restarts_in_place(part):
        command = [*(worker.command or []), *(worker.args or [])]
        container["command"] = worker_supervisor.supervised(command, RESTART_FILE)
        container.pop("args", None)
    return {
        **container,
        "env": worker_env(part),
        "resources": common.resources_of(worker.resources),
        # Served by the agent (same network namespace): fails when the worker
        # stays unresponsive after an interrupted call (the supervisor did not
        # restart it, or there is none), so the kubelet restarts the stuck worker.
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


def _check_cluster(part: model.Partition, cluster: model.Cluster) -> None:
    """The cluster must be the one the partition names, in its namespace."""
    wanted = part.spec.cluster_ref.name
    if wanted != cluster.name or part.namespace != cluster.namespace:
        raise ValueError(f"partition {part.name} belongs to cluster {wanted}, not to {cluster.name}")


def _name(part: model.Partition, cluster: model.Cluster) -> str:
    return common.partition_name(cluster.name, part.partition_id)


def _selector(part: model.Partition, cluster: model.Cluster) -> dict[str, str]:
    return common.selector_labels(cluster.name, COMPONENT, part.partition_id)
