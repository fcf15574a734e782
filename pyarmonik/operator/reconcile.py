"""Reconciling one ArmoniKCluster or ArmoniKPartition: its children applied, its status written.

:func:`reconcile` is the one way in, whoever asks (a kopf change handler, the
resync loop of :mod:`pyarmonik.operator.resync`): under the resource's lock it
reads the resource as it is now, builds every child (pure builders), adopts
and applies them (server-side apply: an unchanged child is a no-op, a
deleted or hand-edited one is repaired, a spec change rolls out), then
writes the status from what it observed, a condition that turns False
being also one Warning Event.

What a reconcile never does:

- wait on a grid's Redis: children are applied first, and declaring a
  partition (or reading the grid) waits at most ``GRID_WAIT_SECONDS`` on a
  connection opened in the background (:mod:`pyarmonik.operator.grids`);
  the ``Declared`` condition says what happened, and the change handler
  tries again ``RETRY_SECONDS`` later;
- block a deletion: no finalizer, no deletion handler. Children go with
  their owner through Kubernetes' garbage collector, whether the operator
  runs or not; a deleted partition is forgotten by its grid when the
  deletion is seen (:mod:`pyarmonik.operator.handlers`) or, if its grid did
  not answer then, at its cluster's next reconcile.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import kopf

from pyarmonik.core import errors
from pyarmonik.operator import conditions, context, crds, kube, model
from pyarmonik.operator.builders import cluster as cluster_builders
from pyarmonik.operator.builders import common, control_plane, keda, object_storage, partition, redis

log = logging.getLogger(__name__)

#: A change handler whose partition waits (for its cluster, for its grid) runs again after this.
RETRY_SECONDS = 5.0
#: The longest a reconcile waits on a grid's Redis.
GRID_WAIT_SECONDS = 1.0
#: Kinds a spec change may make unnecessary (networkPolicy.enabled: false):
#: their owned objects that the builders no longer return are deleted.
PRUNED_KINDS = (("networking.k8s.io/v1", "NetworkPolicy"), ("networking.k8s.io/v1", "Ingress"))


@dataclass(frozen=True)
class Outcome:
    """What a reconcile leaves to do: ``retry`` says why it should run again soon (``None``: converged)."""

    retry: str | None = None


async def reconcile(ctx: context.Context, kind: str, namespace: str, name: str) -> Outcome:
    """Reconciles the resource as it is now; nothing when it is gone or going."""
    async with ctx.locks.hold(kind, namespace, name):
        body = await asyncio.to_thread(ctx.kube.get, crds.API_VERSION, kind, name, namespace)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return Outcome()
        reconciler = _cluster if kind == crds.CLUSTER_KIND else _partition
        status, outcome = await reconciler(ctx, body)
        await asyncio.to_thread(ctx.kube.patch_status, body, status.fields)
        for check in status.turned_false:
            await asyncio.to_thread(
                ctx.kube.post_event, body, type="Warning", reason=check.reason, message=check.message
            )
        return outcome


# -- clusters ----------------------------------------------------------------------
async def _cluster(ctx: context.Context, body: model.Body) -> tuple[conditions.Status, Outcome]:
    cluster = model.parse_cluster(body, image=ctx.image)
    credentials = await asyncio.to_thread(_minio_credentials, ctx.kube, cluster)
    children = cluster_builders.build_cluster_children(cluster, secrets=credentials)
    await _apply_owned(ctx.kube, children, owner=cluster.owner, prune=True)
    checks = await asyncio.to_thread(_cluster_checks, ctx.kube, cluster)
    await _forget_deleted_partitions(ctx, cluster)
    status = conditions.status_of(body, checks, extra={"endpoint": control_plane.endpoint(cluster)})
    return status, Outcome()


def _minio_credentials(client: kube.Kube, cluster: model.Cluster) -> dict[str, str]:
    """The managed MinIO's credentials: those of its Secret, which the first
    reconcile of the cluster creates (once: a second one finds it)."""
    if cluster.spec.object_storage.mode != "managed":
        return {}
    name = common.minio_secret_name(cluster.name)
    stored = client.get("v1", "Secret", name, cluster.namespace)
    if stored is None:
        secret = object_storage.build_minio_secret(cluster, object_storage.new_minio_credentials())
        kopf.adopt(secret, owner=cluster.owner)  # type: ignore[arg-type]  # a plain dict body works
        stored = client.create_secret_once(secret)
    return object_storage.credentials_from_secret(stored)


def _cluster_checks(client: kube.Kube, cluster: model.Cluster) -> list[conditions.Check]:
    spec, name, namespace = cluster.spec, cluster.name, cluster.namespace
    checks = []
    if spec.redis.mode == "managed":
        redis_set = client.get("apps/v1", "StatefulSet", common.redis_name(name), namespace)
        checks.append(conditions.replicas_check("StatefulSet", "Redis", redis_set, condition="RedisReady"))
    else:
        checks.append(conditions.external_check("RedisReady", "Redis", _without_secret(redis.redis_url(cluster))))
    if spec.object_storage.mode == "managed":
        minio_set = client.get("apps/v1", "StatefulSet", common.minio_name(name), namespace)
        checks.append(
            conditions.replicas_check("StatefulSet", "Object storage", minio_set, condition="ObjectStorageReady")
        )
    else:
        endpoint = str(spec.object_storage.external.endpoint)
        checks.append(conditions.external_check("ObjectStorageReady", "Object storage", endpoint))
    deployment = client.get("apps/v1", "Deployment", common.control_plane_name(name), namespace)
    checks.append(conditions.replicas_check("Deployment", "Control plane", deployment, condition="ControlPlaneReady"))
    return checks


async def _forget_deleted_partitions(ctx: context.Context, cluster: model.Cluster) -> None:
    """Removes from the grid the partitions deleted while it did not answer.
    Best effort: a grid that still does not answer is tried next time."""
    try:
        url = await asyncio.to_thread(dial_url, ctx.kube, cluster)
        for partition_id in await ctx.grids.retry_forgotten(cluster.key, url, wait=GRID_WAIT_SECONDS):
            log.info("cluster %s: deleted partition %s forgotten by its grid", cluster.name, partition_id)
    except errors.Unavailable as exc:
        log.debug("cluster %s: deleted partitions not forgotten yet: %s", cluster.name, exc.message)


# -- partitions --------------------------------------------------------------------
async def _partition(ctx: context.Context, body: model.Body) -> tuple[conditions.Status, Outcome]:
    part = model.parse_partition(body)
    cluster_name, namespace = part.spec.cluster_ref.name, part.namespace
    cluster_body = await asyncio.to_thread(ctx.kube.get, crds.API_VERSION, crds.CLUSTER_KIND, cluster_name, namespace)
    if cluster_body is None:
        message = f"ArmoniKCluster {cluster_name} does not exist (yet) in namespace {namespace}; waiting for it"
        missing = conditions.Check("ClusterFound", False, "ClusterMissing", message)
        return conditions.status_of(body, [missing], phase="Pending"), Outcome(retry=message)
    cluster = model.parse_cluster(cluster_body, image=ctx.image)
    # Owned by its cluster too: deleting the cluster removes its partitions and their pods.
    await asyncio.to_thread(ctx.kube.add_owner, body, cluster.owner)
    await _apply_owned(ctx.kube, partition.build_partition_children(part, cluster), owner=part.owner, prune=True)
    scaler = await _keda(ctx, part, cluster)
    declared = await _declare(ctx, part, cluster)
    deployment = await asyncio.to_thread(
        ctx.kube.get, "apps/v1", "Deployment", common.partition_name(cluster.name, part.partition_id), namespace
    )
    checks = [
        conditions.Check("ClusterFound", True, "ClusterFound", f"served by ArmoniKCluster {cluster_name}"),
        conditions.replicas_check("Deployment", f"Partition {part.partition_id}", deployment, condition="PodsReady"),
        declared,
        *([scaler] if scaler else []),
    ]
    observed = (deployment or {}).get("status") or {}
    extra = {
        "replicas": observed.get("replicas") or 0,
        "readyReplicas": observed.get("readyReplicas") or 0,
        "selector": partition.partition_selector(part, cluster),
    }
    return conditions.status_of(body, checks, extra=extra), Outcome(retry=None if declared.ok else declared.message)


async def _keda(ctx: context.Context, part: model.Partition, cluster: model.Cluster) -> conditions.Check | None:
    """With ``autoscaling.engine: keda``, KEDA scales the partition through a
    ScaledObject, whose state is the ``AutoscalerReady`` condition; otherwise
    none is left behind (the engine may have changed) and there is no such condition."""
    name = common.partition_name(cluster.name, part.partition_id)
    try:
        if part.spec.keda_scaled:
            await _apply_owned(ctx.kube, [keda.build_scaled_object(part, cluster)], owner=part.owner)
            return conditions.Check("AutoscalerReady", True, "ScaledObject", f"KEDA scales it (ScaledObject {name})")
        await asyncio.to_thread(ctx.kube.delete, keda.API_VERSION, keda.KIND, name, part.namespace)
    except kube.NoSuchKind:
        if part.spec.keda_scaled:
            message = "autoscaling.engine is keda but KEDA is not installed (no ScaledObject kind); waiting for it"
            return conditions.Check("AutoscalerReady", False, "KedaMissing", message)
    return None


async def _declare(ctx: context.Context, part: model.Partition, cluster: model.Cluster) -> conditions.Check:
    """Declares the partition to its grid, as the ``Declared`` condition."""
    try:
        url = await asyncio.to_thread(dial_url, ctx.kube, cluster)
        record = partition.partition_record(part)
        await ctx.grids.declare(cluster.key, url, record, wait=GRID_WAIT_SECONDS)
    except errors.Unavailable as exc:
        message = f"partition {part.partition_id} not declared: {exc.message}"
        return conditions.Check("Declared", False, "GridUnreachable", message)
    return conditions.Check("Declared", True, "Declared", f"partition {part.partition_id} is served by the grid")


def dial_url(client: kube.Kube, cluster: model.Cluster) -> str:
    """The grid's Redis URL as the operator dials it (the password read from
    its Secret, where the pods get it from the kubelet); ``errors.Unavailable``
    when the Secret lacks it."""
    url = redis.redis_url(cluster)
    marker = f"$({redis.PASSWORD_VARIABLE})"
    ref = redis.password_ref(cluster)
    if ref is None or marker not in url:
        return url
    data = client.secret_data(ref.name, cluster.namespace) or {}
    if ref.key not in data:
        raise errors.Unavailable(f"Redis password: Secret {ref.name} has no key {ref.key}")
    return url.replace(marker, data[ref.key])


def _without_secret(url: str) -> str:
    return url.replace(f"$({redis.PASSWORD_VARIABLE})", "***")


async def _apply_owned(
    client: kube.Kube, children: list[dict[str, Any]], *, owner: model.Body, prune: bool = False
) -> None:
    """Adopts and applies ``children``; with ``prune``, they are all of the
    owner's children, and owned objects of ``PRUNED_KINDS`` not among them go."""
    kopf.adopt(children, owner=owner)  # type: ignore[arg-type]  # a plain dict body works
    for child in children:
        await asyncio.to_thread(client.apply, child)
    for api_version, kind in PRUNED_KINDS if prune else ():
        wanted = {c["metadata"]["name"] for c in children if c["kind"] == kind}
        await asyncio.to_thread(client.prune, api_version, kind, owner=owner, keep=wanted)
