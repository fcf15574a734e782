"""The operator's periodic rounds: every resource reconciled again, every autoscaled partition sized.

Two loops beside kopf, each a round every N seconds over the resources the
operator watches (listed afresh each round):

- resync (``--resync-seconds``): :func:`pyarmonik.operator.reconcile.reconcile`
  of every cluster and partition, which repairs a deleted or hand-edited
  child and refreshes the status;
- autoscale (``--autoscale-seconds``): one tick of each partition the
  operator scales (:mod:`pyarmonik.operator.scaling`), its load read from
  its grid's queue, the count written to its ``/scale``.

Loops rather than kopf timers: a timer makes kopf put a finalizer on every
resource (see :mod:`pyarmonik.operator.handlers`). A round handles several
resources at once (``CONCURRENCY``); a resource that fails is logged in
one line and tried again next round, the others go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pyarmonik.core import errors
from pyarmonik.operator import autoscaler, context, crds, kube_scaling, model, pod_costs, reconcile, scaling

log = logging.getLogger(__name__)

#: Resources handled at once in a round (each mostly waits on the API server).
CONCURRENCY = 4
#: The longest a tick waits on its grid's queue.
LOAD_WAIT_SECONDS = 2.0


async def run(ctx: context.Context, *, namespaces: list[str], resync_seconds: float, autoscale_seconds: float) -> None:
    """Both loops, until cancelled."""
    await asyncio.gather(
        _every(resync_seconds, "resync", lambda: resync_round(ctx, namespaces)),
        _every(autoscale_seconds, "autoscale", lambda: autoscale_round(ctx, namespaces)),
    )


async def _every(seconds: float, name: str, round: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await round()
        except Exception as exc:  # the API server unreachable: the next round tries again
            log.warning("%s round failed: %s", name, exc)


async def resync_round(ctx: context.Context, namespaces: list[str]) -> None:
    clusters = await _listed(ctx, crds.CLUSTER_KIND, namespaces)
    partitions = await _listed(ctx, crds.PARTITION_KIND, namespaces)

    async def one(body: model.Body) -> None:
        metadata = body["metadata"]
        await reconcile.reconcile(ctx, body["kind"], metadata["namespace"], metadata["name"])

    await _each([*clusters, *partitions], one)


async def autoscale_round(ctx: context.Context, namespaces: list[str]) -> None:
    partitions = await _listed(ctx, crds.PARTITION_KIND, namespaces)
    await _each(partitions, lambda body: autoscale(ctx, body))


async def autoscale(ctx: context.Context, body: model.Body) -> autoscaler.ScaleDecision | None:
    """One tick of one partition, with the real I/O (its grid's queue, the API server)."""
    part = model.parse_partition(body)
    if not part.spec.operator_scaled or body["metadata"].get("deletionTimestamp"):
        return None
    cluster_body = await asyncio.to_thread(
        ctx.kube.get, crds.API_VERSION, crds.CLUSTER_KIND, part.spec.cluster_ref.name, part.namespace
    )
    if cluster_body is None:
        return None
    cluster = model.parse_cluster(cluster_body, image=ctx.image)
    try:
        url = await asyncio.to_thread(reconcile.dial_url, ctx.kube, cluster)
    except errors.Unavailable as exc:
        log.warning("partition %s: not scaled this time: %s", part.partition_id, exc.message)
        return None

    async def read_load(grid: model.Cluster, partition_id: str) -> autoscaler.Load:
        return await ctx.grids.load(grid.key, url, partition_id, wait=LOAD_WAIT_SECONDS)

    async def patch_replicas(target: model.Partition, replicas: int) -> None:
        await asyncio.to_thread(kube_scaling.patch_scale, ctx.kube, target, replicas)

    protect = None
    if ctx.http is not None:
        fetch = pod_costs.http_fetch(ctx.http)

        async def protect_busy_pods(target: model.Partition, owner: model.Cluster) -> None:
            await kube_scaling.mark_deletion_costs(ctx.kube, fetch, target, owner)

        protect = protect_busy_pods
    decision = await scaling.autoscale_partition(
        part,
        cluster,
        scaler=ctx.scaler,
        read_load=read_load,
        patch_replicas=patch_replicas,
        protect_busy_pods=protect,
        now=time.monotonic(),
    )
    if decision is not None and decision.changed:
        await asyncio.to_thread(
            ctx.kube.post_event, body, type="Normal", reason=decision.event_reason, message=decision.reason
        )
    return decision


async def _listed(ctx: context.Context, kind: str, namespaces: list[str]) -> list[model.Body]:
    found: list[model.Body] = []
    scopes: list[str | None] = [*namespaces] or [None]
    for namespace in scopes:
        found += await asyncio.to_thread(ctx.kube.list_objects, crds.API_VERSION, kind, namespace)
    for body in found:  # a list's items carry neither
        body.setdefault("apiVersion", crds.API_VERSION)
        body.setdefault("kind", kind)
    return found


async def _each(bodies: Iterable[model.Body], handle: Callable[[model.Body], Awaitable[Any]]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def guarded(body: model.Body) -> None:
        async with gate:
            try:
                await handle(body)
            except Exception as exc:
                metadata = body["metadata"]
                log.warning("%s %s/%s: %s", body["kind"], metadata.get("namespace"), metadata["name"], exc)

    await asyncio.gather(*(guarded(body) for body in bodies))
