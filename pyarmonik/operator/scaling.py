"""One autoscaling tick of one partition: read its load, decide, write ``/scale``.

The I/O comes in as callables, so the operator's autoscale loop
(:mod:`pyarmonik.operator.loops`) wires the real ones (the grid's queue, the
API server) and the tests fakes. What keeps a tick safe:

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
from pyarmonik.operator import autoscaler, model

log = logging.getLogger(__name__)

#: How often the operator's autoscale loop should tick each autoscaled partition
#: (KEDA's polling interval too).
INTERVAL_SECONDS = 15.0

ReadLoad = Callable[[model.Cluster, str], Awaitable[autoscaler.Load]]
"""``(cluster, partition_id) -> Load``; raises ``errors.TRANSIENT`` or
``errors.Unavailable`` when the grid's queue cannot be read."""
PatchReplicas = Callable[[model.Partition, int], Awaitable[None]]
"""``(partition, replicas)``: writes the partition's ``/scale``."""
ProtectBusyPods = Callable[[model.Partition, model.Cluster], Awaitable[None]]
"""``(partition, cluster)``: deletion costs of the partition's pods."""


def scaler_key(part: model.Partition) -> str:
    return part.uid or f"{part.namespace}/{part.name}"


async def autoscale_partition(
    part: model.Partition,
    cluster: model.Cluster,
    *,
    scaler: autoscaler.PartitionScaler,
    read_load: ReadLoad,
    patch_replicas: PatchReplicas,
    now: float,
    protect_busy_pods: ProtectBusyPods | None = None,
) -> autoscaler.ScaleDecision | None:
    """The tick's decision, written when it changes the count; ``None`` when
    the operator does not scale this partition or its load is unknown."""
    if not part.spec.operator_scaled:
        return None
    partition_id = part.partition_id
    try:
        load = await read_load(cluster, partition_id)
    except Exception as exc:
        if not isinstance(exc, errors.Unavailable) and not errors.is_transient(exc):
            raise
        log.warning("partition %s: queue unreadable, not scaled this time: %s", partition_id, exc)
        return None
    key = scaler_key(part)
    decision = scaler.plan(
        key, load, replicas=part.spec.desired_replicas, policy=autoscaler.policy_of(part.spec), now=now
    )
    if not decision.changed:
        log.debug("partition %s: %s", partition_id, decision.reason)
        return decision
    if decision.action is autoscaler.Action.DOWN and protect_busy_pods is not None:
        await protect_busy_pods(part, cluster)
    await patch_replicas(part, decision.replicas)
    scaler.applied(key, decision.replicas, now=now)
    log.info("partition %s: %s", partition_id, decision.reason)
    return decision
