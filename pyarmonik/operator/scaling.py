"""One autoscaling tick of one partition: read its load, decide, write ``/scale``.

The I/O comes in as callables, so a kopf timer wires the real ones (Redis,
the API server) and the tests fakes. What keeps a tick safe:

- no load, no decision: when the grid's Redis cannot be read, nothing is
  written (an unreadable queue must not look like an empty one and scale a
  busy partition to zero);
- the count is written to the partition's ``/scale`` (``spec.replicas``),
  never to its Deployment, which the reconcile derives from it;
- before pods are removed, ``protect_busy_pods`` (when given) marks the busy
  ones with a high deletion cost, so the ReplicaSet removes idle ones
  (:mod:`pyarmonik.operator.pod_costs`);
- the scaler records a count only once it is written, so a failed write is
  decided again at the next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pyarmonik.core import errors
from pyarmonik.operator import autoscaler
from pyarmonik.operator.builders import common, partition

log = logging.getLogger(__name__)

#: How often the operator's timer should tick each autoscaled partition
#: (KEDA's polling interval too).
INTERVAL_SECONDS = 15.0

ReadLoad = Callable[[common.Body, str], Awaitable[autoscaler.Load]]
"""``(cluster_body, partition_id) -> Load``; raises ``errors.TRANSIENT`` or
``errors.Unavailable`` when the grid's Redis cannot be read."""
PatchReplicas = Callable[[common.Body, int], Awaitable[None]]
"""``(partition_body, replicas)``: writes the partition's ``/scale``."""
ProtectBusyPods = Callable[[common.Body, common.Body], Awaitable[None]]
"""``(partition_body, cluster_body)``: deletion costs of the partition's pods."""


def operator_scaled(partition_body: common.Body) -> bool:
    """Whether the operator's autoscaler (not KEDA, not a person) sets the count."""
    auto = common.partition_spec(partition_body)["autoscaling"]
    return bool(auto["enabled"]) and auto["engine"] == "operator"


def scaler_key(partition_body: common.Body) -> str:
    metadata = partition_body["metadata"]
    return str(metadata.get("uid") or f"{common.namespace_of(partition_body)}/{metadata['name']}")


async def autoscale_partition(
    partition_body: common.Body,
    cluster_body: common.Body,
    *,
    scaler: autoscaler.PartitionScaler,
    read_load: ReadLoad,
    patch_replicas: PatchReplicas,
    now: float,
    protect_busy_pods: ProtectBusyPods | None = None,
) -> autoscaler.ScaleDecision | None:
    """The tick's decision, written when it changes the count; ``None`` when
    the operator does not scale this partition or its load is unknown."""
    if not operator_scaled(partition_body):
        return None
    partition_id = partition.partition_id(partition_body)
    try:
        load = await read_load(cluster_body, partition_id)
    except Exception as exc:
        if not isinstance(exc, errors.Unavailable) and not errors.is_transient(exc):
            raise
        log.warning("partition %s: queue unreadable, not scaled this time: %s", partition_id, exc)
        return None
    key = scaler_key(partition_body)
    decision = scaler.plan(
        key,
        load,
        replicas=partition.desired_replicas(partition_body),
        policy=autoscaler.policy_of(partition_body),
        now=now,
    )
    if not decision.changed:
        log.debug("partition %s: %s", partition_id, decision.reason)
        return decision
    if decision.action is autoscaler.Action.DOWN and protect_busy_pods is not None:
        await protect_busy_pods(partition_body, cluster_body)
    await patch_replicas(partition_body, decision.replicas)
    scaler.applied(key, decision.replicas, now=now)
    log.info("partition %s: %s", partition_id, decision.reason)
    return decision
