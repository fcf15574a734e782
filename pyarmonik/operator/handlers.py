"""kopf handlers: ArmoniKCluster and ArmoniKPartition kept converged.

Each kind has one reconcile function, run on create, update and resume and
again every ``resync_seconds`` by a timer: it builds every child (pure
builders), adopts and applies them, then writes the status from what it
observes. Applying everything each time is what repairs a deleted or
hand-edited child and rolls out a spec change; server-side apply makes an
unchanged child a no-op. A partition whose cluster does not exist yet waits
(``kopf.TemporaryError``), it does not fail.

Handlers are registered on a registry built by ``build_registry`` so that an
operator (or a test) gets its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import kopf

from pyarmonik.operator import conditions, grid_state, kube, kube_scaling, pod_costs, scaling
from pyarmonik.operator.builders import cluster as cluster_builders
from pyarmonik.operator.builders import common, control_plane, keda, object_storage, partition, redis

log = logging.getLogger(__name__)

GROUP, VERSION = "pyarmonik.io", "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CLUSTERS, PARTITIONS = "armonikclusters", "armonikpartitions"
CLUSTER_WAIT_SECONDS = 5.0


# -- clusters ----------------------------------------------------------------
async def reconcile_cluster(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo) -> None:
    client: kube.Kube = memo.kube
    cluster = dict(body)
    credentials = await asyncio.to_thread(_minio_credentials, client, cluster)
    children = cluster_builders.build_cluster_children(cluster, secrets=credentials)
    await _apply_owned(client, children, owner=cluster, prune=True)
    checks = await asyncio.to_thread(_cluster_checks, client, cluster)
    _write_status(cluster, patch, checks, extra={"endpoint": control_plane.endpoint(cluster)})


def _minio_credentials(client: kube.Kube, cluster: dict[str, Any]) -> dict[str, str]:
    """The managed MinIO's credentials: those already in its Secret, else new
    ones (generated once, never rotated by the operator)."""
    spec = common.cluster_spec(cluster)
    if spec["objectStorage"]["mode"] != "managed":
        return {}
    name = common.minio_secret_name(common.name_of(cluster))
    existing = client.get("v1", "Secret", name, common.namespace_of(cluster))
    if existing is not None:
        return object_storage.credentials_from_secret(existing)
    return object_storage.new_minio_credentials()


def _cluster_checks(client: kube.Kube, cluster: dict[str, Any]) -> list[conditions.Check]:
    name, namespace = common.name_of(cluster), common.namespace_of(cluster)
    spec = common.cluster_spec(cluster)
    checks = []
    if spec["redis"]["mode"] == "managed":
        redis_set = client.get("apps/v1", "StatefulSet", common.redis_name(name), namespace)
        checks.append(conditions.replicas_check("StatefulSet", "Redis", redis_set, condition="RedisReady"))
    else:
        checks.append(conditions.external_check("RedisReady", "Redis", _without_secret(redis.redis_url(cluster))))
    if spec["objectStorage"]["mode"] == "managed":
        minio_set = client.get("apps/v1", "StatefulSet", common.minio_name(name), namespace)
        checks.append(
            conditions.replicas_check("StatefulSet", "Object storage", minio_set, condition="ObjectStorageReady")
        )
    else:
        endpoint = spec["objectStorage"]["external"]["endpoint"]
        checks.append(conditions.external_check("ObjectStorageReady", "Object storage", endpoint))
    deployment = client.get("apps/v1", "Deployment", common.control_plane_name(name), namespace)
    checks.append(conditions.replicas_check("Deployment", "Control plane", deployment, condition="ControlPlaneReady"))
    return checks


# -- partitions --------------------------------------------------------------
async def reconcile_partition(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo) -> None:
    client: kube.Kube = memo.kube
    part = dict(body)
    spec = common.partition_spec(part)
    cluster_name, namespace = spec["clusterRef"]["name"], common.namespace_of(part)
    cluster = await asyncio.to_thread(client.get, API_VERSION, "ArmoniKCluster", cluster_name, namespace)
    if cluster is None:
        message = f"ArmoniKCluster {cluster_name} does not exist (yet) in namespace {namespace}; waiting for it"
        _write_status(
            part, patch, [conditions.Check("ClusterFound", False, "ClusterMissing", message)], phase="Pending"
        )
        raise kopf.TemporaryError(message, delay=CLUSTER_WAIT_SECONDS)
    # Owned by its cluster too: deleting the cluster removes its partitions and their pods.
    await asyncio.to_thread(client.add_owner, part, cluster)
    await _apply_owned(client, partition.build_partition_children(part, cluster), owner=part, prune=True)
    await _keda(client, part, cluster)
    declared = await _declare(client, cluster, part)
    deployment = await asyncio.to_thread(
        client.get, "apps/v1", "Deployment", common.partition_name(cluster_name, spec["partitionId"]), namespace
    )
    checks = [
        conditions.Check("ClusterFound", True, "ClusterFound", f"served by ArmoniKCluster {cluster_name}"),
        conditions.replicas_check("Deployment", f"Partition {spec['partitionId']}", deployment, condition="PodsReady"),
        declared,
    ]
    observed = (deployment or {}).get("status") or {}
    _write_status(
        part,
        patch,
        checks,
        extra={
            "replicas": observed.get("replicas") or 0,
            "readyReplicas": observed.get("readyReplicas") or 0,
            "selector": partition.partition_selector(part, cluster),
        },
    )
    if not declared.ok:  # status written; retried until the grid's Redis answers
        raise kopf.TemporaryError(declared.message, delay=grid_state.RETRY_SECONDS)


async def _keda(client: kube.Kube, part: dict[str, Any], cluster: dict[str, Any]) -> None:
    """With ``autoscaling.engine: keda``, KEDA scales the partition through a
    ScaledObject; otherwise none is left behind (the engine may have changed)."""
    auto = common.partition_spec(part)["autoscaling"]
    name = common.partition_name(common.name_of(cluster), partition.partition_id(part))
    try:
        if auto["enabled"] and auto["engine"] == "keda":
            await _apply_owned(client, [keda.build_scaled_object(part, cluster)], owner=part)
        else:
            await asyncio.to_thread(client.delete, keda.API_VERSION, "ScaledObject", name, common.namespace_of(part))
    except kube.NoSuchKind:
        if auto["enabled"] and auto["engine"] == "keda":
            kopf.warn(part, reason="KedaMissing", message="autoscaling.engine is keda but KEDA is not installed")  # type: ignore[arg-type]


async def autoscale_partition(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """One autoscaling tick (operator engine): queue load -> ``/scale``."""
    part = dict(body)
    if not scaling.operator_scaled(part):
        return
    client: kube.Kube = memo.kube
    spec = common.partition_spec(part)
    cluster = await asyncio.to_thread(
        client.get, API_VERSION, "ArmoniKCluster", spec["clusterRef"]["name"], common.namespace_of(part)
    )
    if cluster is None:
        return
    redis_url = await asyncio.to_thread(_redis_url, client, cluster)

    async def read_load(_: Any, partition_id: str) -> Any:
        return await memo.grid_queues.load(redis_url, partition_id)

    async def patch_replicas(target: Any, replicas: int) -> None:
        await asyncio.to_thread(kube_scaling.patch_scale, client, target, replicas)

    async def protect_busy_pods(target: Any, owner: Any) -> None:
        await kube_scaling.mark_deletion_costs(client, pod_costs.http_fetch(memo.http), target, owner)

    decision = await scaling.autoscale_partition(
        part,
        cluster,
        scaler=memo.scaler,
        read_load=read_load,
        patch_replicas=patch_replicas,
        protect_busy_pods=protect_busy_pods,
        now=time.monotonic(),
    )
    if decision is not None and decision.changed:
        kopf.event(body, type="Normal", reason=decision.event_reason, message=decision.reason)


async def _declare(client: kube.Kube, cluster: dict[str, Any], part: dict[str, Any]) -> conditions.Check:
    """Declares the partition to its grid, as the ``Declared`` condition."""
    partition_id = partition.partition_id(part)
    try:
        await grid_state.declare(await asyncio.to_thread(_redis_url, client, cluster), partition.partition_record(part))
    except kopf.TemporaryError as exc:
        return conditions.Check("Declared", False, "GridUnreachable", f"partition {partition_id} not declared: {exc}")
    return conditions.Check("Declared", True, "Declared", f"partition {partition_id} is served by the grid")


async def partition_deleted(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    """Forgets the partition, so that submissions to it are refused. When
    the cluster went first (cascading deletion), there is nothing to tell."""
    client: kube.Kube = memo.kube
    part = dict(body)
    memo.scaler.forget(scaling.scaler_key(part))
    spec = common.partition_spec(part)
    cluster = await asyncio.to_thread(
        client.get, API_VERSION, "ArmoniKCluster", spec["clusterRef"]["name"], common.namespace_of(part)
    )
    if cluster is None or cluster["metadata"].get("deletionTimestamp"):
        return
    try:
        await grid_state.forget(await asyncio.to_thread(_redis_url, client, cluster), spec["partitionId"])
    except kopf.TemporaryError:
        if retry >= 3:
            log.warning("partition %s: Redis unreachable; deleting it without deregistering", spec["partitionId"])
            return
        raise


def _redis_url(client: kube.Kube, cluster: dict[str, Any]) -> str:
    """The grid's Redis URL as the operator dials it (the password read from
    its Secret, where the pods get it from the kubelet)."""
    url = redis.redis_url(cluster)
    marker = f"$({redis.PASSWORD_VARIABLE})"
    if marker not in url:
        return url
    ref = common.cluster_spec(cluster)["redis"]["external"]["passwordSecretRef"]
    data = client.secret_data(ref["name"], common.namespace_of(cluster)) or {}
    if ref["key"] not in data:
        raise kopf.TemporaryError(f"Redis password: Secret {ref['name']} has no key {ref['key']}", delay=10)
    return url.replace(marker, data[ref["key"]])


def _without_secret(url: str) -> str:
    return url.replace(f"$({redis.PASSWORD_VARIABLE})", "***")


# -- shared ------------------------------------------------------------------
#: Kinds a spec change may make unnecessary (networkPolicy.enabled: false):
#: their owned objects that the builders no longer return are deleted.
PRUNED_KINDS = (("networking.k8s.io/v1", "NetworkPolicy"), ("networking.k8s.io/v1", "Ingress"))


async def _apply_owned(
    client: kube.Kube, children: list[dict[str, Any]], *, owner: dict[str, Any], prune: bool = False
) -> None:
    """Adopts and applies ``children``; with ``prune``, they are all of the
    owner's children, and owned objects of ``PRUNED_KINDS`` not among them go."""
    kopf.adopt(children, owner=owner)  # type: ignore[arg-type]  # a plain dict body works
    for child in children:
        await asyncio.to_thread(client.apply, child)
    for api_version, kind in PRUNED_KINDS if prune else ():
        wanted = {c["metadata"]["name"] for c in children if c["kind"] == kind}
        await asyncio.to_thread(client.prune, api_version, kind, owner=owner, keep=wanted)


def _write_status(
    body: dict[str, Any],
    patch: kopf.Patch,
    checks: list[conditions.Check],
    *,
    phase: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Conditions, phase and observedGeneration; a condition that turns
    False is also a Kubernetes Event (once, on the transition)."""
    ready, ready_phase = conditions.overall(checks)
    checks = [*checks, ready]
    status = body.get("status") or {}
    previous = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    for check in checks:
        if not check.ok and previous.get(check.type) != "False":
            kopf.warn(body, reason=check.reason, message=check.message)  # type: ignore[arg-type]
    generation = body["metadata"].get("generation", 0)
    patch.status["conditions"] = conditions.conditions(
        checks, previous=status.get("conditions") or [], generation=generation, at=conditions.now_text()
    )
    patch.status["phase"] = phase or ready_phase
    patch.status["observedGeneration"] = generation
    for key, value in (extra or {}).items():
        patch.status[key] = value


# -- registration --------------------------------------------------------------
def build_registry(
    *, resync_seconds: float, autoscale_seconds: float = scaling.INTERVAL_SECONDS
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    # Credentials as the kubernetes client finds them: the pod's service
    # account, else the kubeconfig (a registry of our own has no default).
    kopf.on.login(registry=registry)(_login)
    for kind, reconcile in ((CLUSTERS, reconcile_cluster), (PARTITIONS, reconcile_partition)):
        handler = _handler(reconcile)
        for on in (kopf.on.create, kopf.on.update, kopf.on.resume):
            on(GROUP, VERSION, kind, registry=registry, id="reconcile")(handler)  # type: ignore[operator]
        kopf.timer(GROUP, VERSION, kind, registry=registry, interval=resync_seconds, id="resync")(handler)
    kopf.timer(GROUP, VERSION, PARTITIONS, registry=registry, interval=autoscale_seconds, id="autoscale")(
        autoscale_partition
    )
    kopf.on.delete(GROUP, VERSION, PARTITIONS, registry=registry, id="deregister")(partition_deleted)
    return registry


def _login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    return kopf.login_via_client(**kwargs)


def _handler(reconcile: Any) -> Any:
    async def handler(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
        await reconcile(body, patch, memo)

    handler.__name__ = reconcile.__name__
    return handler
