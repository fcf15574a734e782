"""ArmoniKCluster and ArmoniKPartition as the operator reads them: parsed once, typed.

A handler parses the body kopf (or a list) hands it with :func:`parse_cluster`
or :func:`parse_partition`, once per reconcile; the builders, the autoscaler
and the handlers then read attributes (``cluster.spec.redis.mode``), never the
raw dict again.

Where each decision lives:

- defaults and validation: the CRD schemas (:mod:`pyarmonik.operator.specs`,
  their defaults and CEL rules), applied by the API server and, for a body it
  did not default (an older CRD version, a test), by
  :func:`pyarmonik.operator.schema.with_defaults` before the parse. So a field
  the schema defaults is *required* here, never defaulted a second time, and
  a cross-field rule goes into the schema (``rules=``), where the API server
  refuses a bad resource before the operator sees it. The models only type
  what was admitted; ``tests/unit/operator/test_model.py`` checks that they
  and the schemas name the same fields.
- what the operator itself decides: the image of a cluster that names none
  (the operator's own ``--image-repository``/``--image-tag``, which the chart
  sets from its ``image`` values) and a partition id defaulting to the
  resource's name.

Kubernetes types passed through to the pods as they are (resources, env,
affinity, tolerations, selectors and peers) stay plain dicts and lists.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import pydantic
from pydantic.alias_generators import to_camel

import pyarmonik
from pyarmonik.operator import crds, schema, specs

Body = dict[str, Any]
Mode = Literal["managed", "external"]


class SpecModel(pydantic.BaseModel):
    """A part of a spec: camelCase in the resource, snake_case here, read-only."""

    model_config = pydantic.ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")


# -- ArmoniKCluster ------------------------------------------------------------------
class Image(SpecModel):
    repository: str
    tag: str
    pull_policy: str

    @property
    def reference(self) -> str:
        """``repository:tag``, or ``repository@sha256:...`` for a digest."""
        separator = "@" if self.tag.startswith("sha256:") else ":"
        return f"{self.repository}{separator}{self.tag}"


class LocalRef(SpecModel):
    name: str


class Logging(SpecModel):
    level: str
    format: str


class ControlPlaneService(SpecModel):
    type: str
    port: int
    annotations: dict[str, str]


class ControlPlane(SpecModel):
    replicas: int
    port: int
    metrics_port: int
    service: ControlPlaneService
    resources: dict[str, Any] | None = None
    env: list[dict[str, Any]] | None = None
    default_partition: str


class RedisManaged(SpecModel):
    image: str
    storage: str
    storage_class_name: str | None = None
    resources: dict[str, Any] | None = None
    appendfsync: str


class PasswordRef(SpecModel):
    name: str
    key: str


class RedisExternal(SpecModel):
    url: str | None = None
    password_secret_ref: PasswordRef | None = None


class Redis(SpecModel):
    mode: Mode
    managed: RedisManaged
    external: RedisExternal | None = None


class ObjectStorageManaged(SpecModel):
    image: str
    storage: str
    storage_class_name: str | None = None
    resources: dict[str, Any] | None = None


class CredentialsRef(SpecModel):
    name: str
    access_key_key: str
    secret_key_key: str


class ObjectStorageExternal(SpecModel):
    endpoint: str | None = None
    bucket: str | None = None
    secure: bool
    region: str | None = None
    credentials_secret_ref: CredentialsRef | None = None


class ObjectStorage(SpecModel):
    mode: Mode
    managed: ObjectStorageManaged
    external: ObjectStorageExternal
    bucket: str
    small_object_bytes: int


class Persistence(SpecModel):
    delete_with_cluster: bool


class Lease(SpecModel):
    lease_seconds: int
    grace_seconds: int
    heartbeat_seconds: float | None = None


class NetworkPolicy(SpecModel):
    enabled: bool
    ingress_from: list[dict[str, Any]] | None = None
    monitoring_namespace_selector: dict[str, Any]
    operator_from: list[dict[str, Any]]


class Tls(SpecModel):
    secret_name: str
    client_auth: bool


class Auth(SpecModel):
    config_map_name: str | None = None
    secret_name: str | None = None
    key: str
    trusted_proxy_headers: bool


class GuiIngress(SpecModel):
    enabled: bool
    class_name: str | None = None
    host: str | None = None
    tls_secret_name: str | None = None
    annotations: dict[str, str]


class Gui(SpecModel):
    enabled: bool
    image: Image
    replicas: int
    resources: dict[str, Any] | None = None
    http_port: int
    ingress: GuiIngress


class ClusterSpec(SpecModel):
    image: Image
    image_pull_secrets: list[LocalRef] | None = None
    logging: Logging
    control_plane: ControlPlane
    redis: Redis
    object_storage: ObjectStorage
    persistence: Persistence
    lease: Lease
    network_policy: NetworkPolicy
    gui: Gui
    tls: Tls | None = None
    auth: Auth | None = None


# -- ArmoniKPartition ----------------------------------------------------------------
class Worker(SpecModel):
    image: str
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[dict[str, Any]] | None = None
    resources: dict[str, Any] | None = None
    image_pull_policy: str | None = None


class Agent(SpecModel):
    resources: dict[str, Any] | None = None
    env: list[dict[str, Any]] | None = None


class AuthenticationRef(SpecModel):
    name: str
    kind: str


class Keda(SpecModel):
    prometheus_address: str
    query: str | None = None
    authentication_ref: AuthenticationRef | None = None


class Autoscaling(SpecModel):
    enabled: bool
    engine: Literal["operator", "keda"]
    target_tasks_per_pod: int
    scale_up_step: int
    scale_up_cooldown_seconds: int
    scale_down_cooldown_seconds: int
    keda: Keda


class FairShare(SpecModel):
    """Read, not judged: ``fair_share.from_spec`` makes it the grid's configuration."""

    mode: str
    key: str
    weights: dict[str, float] | None = None
    caps: dict[str, int] | None = None


class PartitionSpec(SpecModel):
    cluster_ref: LocalRef
    #: Always set after the parse: the resource's name when the spec gives none.
    partition_id: str
    worker: Worker
    agent: Agent
    node_selector: dict[str, str] | None = None
    tolerations: list[dict[str, Any]] | None = None
    affinity: dict[str, Any] | None = None
    priority_class_name: str | None = None
    runtime_class_name: str | None = None
    pod_reserved: int
    pod_max: int
    replicas: int | None = None
    priority: int
    preemption_percentage: int
    parent_partition_ids: list[str]
    autoscaling: Autoscaling
    fair_share: FairShare

    @property
    def desired_replicas(self) -> int:
        """``replicas`` (``/scale``) kept within podReserved..podMax; when absent, podReserved."""
        wanted = self.pod_reserved if self.replicas is None else self.replicas
        return max(self.pod_reserved, min(wanted, self.pod_max))

    @property
    def operator_scaled(self) -> bool:
        """Whether the operator's autoscaler (not KEDA, not a person) sets the count."""
        return self.autoscaling.enabled and self.autoscaling.engine == "operator"

    @property
    def keda_scaled(self) -> bool:
        return self.autoscaling.enabled and self.autoscaling.engine == "keda"


# -- the resources -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Resource:
    """What every custom resource brings: where it is, and what owns its children."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str
    #: The resource's own labels, which ``kopf.adopt`` gives its children (those they lack).
    labels: dict[str, str]

    @property
    def owner(self) -> Body:
        """What ``kopf.adopt`` and owner references read of the resource."""
        metadata = {"name": self.name, "namespace": self.namespace, "uid": self.uid, "labels": dict(self.labels)}
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": metadata}

    @property
    def key(self) -> tuple[str, str]:
        """``(namespace, name)``: stable across a resource's life, unlike nothing else it has."""
        return self.namespace, self.name


@dataclasses.dataclass(frozen=True)
class Cluster(Resource):
    spec: ClusterSpec


@dataclasses.dataclass(frozen=True)
class Partition(Resource):
    spec: PartitionSpec

    @property
    def partition_id(self) -> str:
        return self.spec.partition_id


@dataclasses.dataclass(frozen=True)
class ImageDefaults:
    """The image of a cluster whose spec names none: the operator's settings."""

    repository: str = "pyarmonik"
    tag: str = pyarmonik.__version__


class InvalidSpec(ValueError):
    """A spec the models refuse (one the API server would not have admitted)."""


def parse_cluster(body: Body, *, image: ImageDefaults | None = None) -> Cluster:
    spec = schema.with_defaults(body.get("spec") or {}, specs.cluster_spec_schema())
    defaults = image or ImageDefaults()
    spec["image"].setdefault("repository", defaults.repository)
    spec["image"].setdefault("tag", defaults.tag)
    return Cluster(**_identity(body, crds.CLUSTER_KIND), spec=_validated(ClusterSpec, spec, body))


def parse_partition(body: Body) -> Partition:
    spec = schema.with_defaults(body.get("spec") or {}, specs.partition_spec_schema())
    spec.setdefault("partitionId", body["metadata"]["name"])
    return Partition(**_identity(body, crds.PARTITION_KIND), spec=_validated(PartitionSpec, spec, body))


def _identity(body: Body, kind: str) -> dict[str, Any]:
    metadata = body["metadata"]
    return {
        "labels": dict(metadata.get("labels") or {}),
        "api_version": str(body.get("apiVersion") or crds.API_VERSION),
        "kind": str(body.get("kind") or kind),
        "name": str(metadata["name"]),
        "namespace": str(metadata.get("namespace") or "default"),
        "uid": str(metadata.get("uid") or ""),
    }


def _validated(model: type[pydantic.BaseModel], spec: Body, body: Body) -> Any:
    try:
        return model.model_validate(spec)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        name = f"{body.get('kind') or model.__name__} {body['metadata'].get('name')}"
        raise InvalidSpec(f"{name}: spec.{where}: {error['msg']}") from None
