"""kopf's part of the operator: change handlers, and what a deletion tells it.

- On create, update and resume of an ArmoniKCluster or an ArmoniKPartition:
  :func:`pyarmonik.operator.reconcile.reconcile`. A partition that waits
  (for its cluster, for its grid's Redis) raises ``kopf.TemporaryError``,
  so kopf runs it again ``RETRY_SECONDS`` later; a new change does not wait
  for that.
- On a partition's deletion, seen as a watch event: its grid forgets it (at
  once when the grid answers; else at its cluster's next reconcile that it
  does) and the autoscaler drops its memory. On a cluster's deletion: its grid
  connection is closed.

No timer, no daemon and no deletion handler: kopf would put a finalizer on
every resource for each of them, and deleting a grid would then wait on the
operator, and on its RBAC, which ``helm uninstall`` deletes at the same
time. Resync and autoscaling are the operator's own loops
(:mod:`pyarmonik.operator.loops`); deletions are Kubernetes' garbage
collector's, through owner references. A finalizer left by an older
operator is removed by kopf the first time it handles the resource.

Handlers are registered on a registry built by ``build_registry`` so that an
operator (or a test) gets its own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from pyarmonik.core import errors
from pyarmonik.operator import context, crds, model, reconcile, scaling

log = logging.getLogger(__name__)

CLUSTERS, PARTITIONS = "armonikclusters", "armonikpartitions"
#: How long a deletion waits on a grid's Redis to forget a partition there.
FORGET_WAIT_SECONDS = 3.0


def _change_handler(kind: str) -> Any:
    async def handler(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        ctx: context.Context = memo.context
        metadata = body["metadata"]
        try:
            outcome = await reconcile.reconcile(ctx, kind, metadata.get("namespace") or "default", metadata["name"])
        except model.InvalidSpec as exc:  # the same spec will not parse better later
            raise kopf.PermanentError(str(exc)) from None
        if outcome.retry:
            raise kopf.TemporaryError(outcome.retry, delay=reconcile.RETRY_SECONDS)

    handler.__name__ = f"{kind.lower()}_changed"
    return handler


async def partition_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """A deleted partition: forgotten by its grid (unless its cluster goes
    too: deleting the cluster deletes its partitions) and by the autoscaler."""
    if event["type"] != "DELETED":
        return
    ctx: context.Context = memo.context
    body: model.Body = dict(event["object"])
    part = model.parse_partition(body)
    ctx.scaler.forget(scaling.scaler_key(part))
    cluster_body = await asyncio.to_thread(
        ctx.kube.get, crds.API_VERSION, crds.CLUSTER_KIND, part.spec.cluster_ref.name, part.namespace
    )
    if cluster_body is None or cluster_body["metadata"].get("deletionTimestamp"):
        return
    cluster = model.parse_cluster(cluster_body, image=ctx.image)
    try:
        url = await asyncio.to_thread(reconcile.dial_url, ctx.kube, cluster)
        await ctx.grids.forget_partition(cluster.key, url, part.partition_id, wait=FORGET_WAIT_SECONDS)
    except errors.Unavailable as exc:
        log.warning("partition %s deleted; its grid forgets it once it answers: %s", part.partition_id, exc.message)


async def cluster_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """A deleted cluster: its grid connection closes."""
    if event["type"] == "DELETED":
        metadata = event["object"]["metadata"]
        await memo.context.grids.forget((metadata.get("namespace") or "default", metadata["name"]))


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    # Credentials as the kubernetes client finds them: the pod's service
    # account, else the kubeconfig (a registry of our own has no default).
    kopf.on.login(registry=registry)(_login)
    for plural, kind in ((CLUSTERS, crds.CLUSTER_KIND), (PARTITIONS, crds.PARTITION_KIND)):
        handler = _change_handler(kind)
        for on in (kopf.on.create, kopf.on.update, kopf.on.resume):
            on(crds.GROUP, crds.VERSION, plural, registry=registry, id="reconcile")(handler)  # type: ignore[operator]
    kopf.on.event(crds.GROUP, crds.VERSION, PARTITIONS, registry=registry, id="deleted")(partition_event)
    kopf.on.event(crds.GROUP, crds.VERSION, CLUSTERS, registry=registry, id="deleted")(cluster_event)
    return registry


def _login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    return kopf.login_via_client(**kwargs)
