"""Settings of every PyArmoniK process, from flags and environment variables.

Models only: nothing is read until a model is instantiated, so the operator
can import them to render pod environments without side effects.

Each setting is declared once, in one of the small groups below, with one
default, one flag (``--name-with-dashes``) and one environment variable
(``PYARMONIK_<NAME>``, plus ArmoniK's own ``ComputePlane__*`` names for the
worker channels). Process models are compositions of the groups: ``local``
takes exactly the settings of the control plane and of its agents, under the
same names. Flags given on the command line win over the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BeforeValidator, Field, StringConstraints, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

import pyarmonik
from pyarmonik.core import fairshare, limits

DEFAULT_PORT = 5001
#: ArmoniK's ingress serves its HTTP (gRPC-Web, GUI) port beside gRPC's.
DEFAULT_HTTP_PORT = 5000
SocketType = Literal["unixdomainsocket", "tcp"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
#: Partition ids become Kubernetes label values and Redis key parts: keep them
#: to what both accept.
PARTITION_ID_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"
PartitionId = Annotated[str, StringConstraints(pattern=PARTITION_ID_PATTERN)]
Port = Annotated[int, Field(ge=0, le=65535)]


def _off_is_none(value: object) -> object:
    return None if isinstance(value, str) and value.strip().lower() in ("off", "none", "") else value


#: A port that ``off`` turns off (flag and environment alike).
PortOrOff = Annotated[Port | None, BeforeValidator(_off_is_none)]


def accepts_off(info: FieldInfo) -> bool:
    """Whether the setting takes ``off`` (a ``PortOrOff``)."""
    return any(getattr(item, "func", None) is _off_is_none for item in info.metadata)


_CONFIG = SettingsConfigDict(env_prefix="PYARMONIK_", extra="ignore", populate_by_name=True)


class LoggingSettings(BaseSettings):
    model_config = _CONFIG

    log_level: LogLevel = Field("INFO", description="logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL")
    log_format: Literal["text", "json"] = Field(
        "text", description="text for people, json for log collectors (one object per line)"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class StorageSettings(BaseSettings):
    """Where state, queues, events and data live: state, queues and events
    in Redis (``local`` starts a private redis-server when ``redis_url`` is
    not given); without ``s3_endpoint`` objects are files under
    ``data_dir/objects``."""

    model_config = _CONFIG

    redis_url: str | None = Field(
        None,
        description="Redis URL, e.g. redis://localhost:6379/0 (rediss://... for TLS)",
        json_schema_extra={"shown": "none: local starts a private redis-server"},
    )
    redis_ca_file: Path | None = Field(
        None,
        description="PEM file of the CA that signed Redis' certificate (with a rediss:// URL), "
        "when it is not in the system's trust store",
    )
    s3_endpoint: str | None = Field(
        None, description="S3/MinIO endpoint host:port", json_schema_extra={"shown": "none: files in DATA_DIR/objects"}
    )
    s3_access_key: str = Field("", description="S3 access key")
    s3_secret_key: str = Field("", description="S3 secret key")
    s3_bucket: str = Field("pyarmonik", description="bucket of result data, created when missing")
    s3_secure: bool = Field(False, description="use TLS to reach S3")
    s3_region: str | None = Field(None, description="S3 region, if the server needs one")
    small_object_bytes: int = Field(
        4096, ge=0, description="result data up to this size lives in Redis with its result, not in S3 or files"
    )
    data_dir: Path = Field(Path("pyarmonik-data"), description="local data: filesystem objects, logs, data folders")
    data_chunk_max_size: int = Field(2 * 1024 * 1024, gt=0, description="chunk size of result data streams")


class LeaseSettings(BaseSettings):
    """The task lease, which both agents (renewing it) and the lease reaper
    beside every process (recovering expired ones) go by."""

    model_config = _CONFIG

    lease_seconds: float = Field(15.0, gt=0, description="task lease; a silent agent loses its task after this")


class ServerSettings(BaseSettings):
    model_config = _CONFIG

    host: str = Field("127.0.0.1", description="address to serve the ArmoniK API on (0.0.0.0: every interface)")
    port: Port = Field(DEFAULT_PORT, description="ArmoniK API port (0: any free port)")
    partitions: list[PartitionId] = Field(
        default_factory=lambda: ["default"],
        min_length=1,
        description="partitions to declare; the first is the default (repeat the flag; a JSON list in the environment)",
    )


class MetricsSettings(BaseSettings):
    """The control plane's Prometheus endpoint. Off by default, like the
    agent's probe port: ``local`` takes this setting too, and two grids on
    one machine must not collide on a port neither asked for."""

    model_config = _CONFIG

    metrics_port: Port | None = Field(
        None,
        description="serve Prometheus /metrics on this port, on --host (0: any free port); in local, one endpoint "
        "for the control plane and every agent",
        json_schema_extra={"shown": "off"},
    )


class WebSettings(BaseSettings):
    """The HTTP port beside the gRPC one: gRPC-Web for browsers (ArmoniK's
    Admin GUI) on HTTP/1.1 and HTTP/2, TLS as the gRPC port, and the GUI's
    own files when given (docs/gui.md)."""

    model_config = _CONFIG

    http_port: PortOrOff = Field(
        DEFAULT_HTTP_PORT,
        description="serve gRPC-Web (and --gui) on this port, on --host, with the TLS of the API; "
        "off: no HTTP port (0: any free port)",
    )
    gui: Path | None = Field(
        None,
        description="folder of a built ArmoniK Admin GUI to serve on --http-port (its index.html files say where)",
        json_schema_extra={"shown": "none: gRPC-Web only"},
    )
    gui_configuration: Path | None = Field(
        None,
        description="JSON file the GUI reads as /static/gui_configuration (its settings page exports one)",
        json_schema_extra={"shown": "none: 404, the GUI's defaults"},
    )
    gui_name: str = Field("PyArmoniK", description="name of this grid in the GUI's environment chip")
    gui_color: str = Field("#1e88e5", description="CSS colour of the GUI's environment chip")
    cors_allowed_origins: list[str] = Field(
        default_factory=list,
        description="other origins whose pages may call the API through gRPC-Web (* for any; repeat the flag)",
        json_schema_extra={"shown": "none: same origin only"},
    )


class SecuritySettings(BaseSettings):
    """TLS of the ArmoniK API and who may call it (ArmoniK's users, roles and
    permissions). Everything is off by default: plaintext, anonymous callers
    allowed everything, as a local grid needs."""

    model_config = _CONFIG

    tls_cert_file: Path | None = Field(
        None,
        description="PEM certificate (chain) of the API server: serve TLS; re-read when the file changes",
        json_schema_extra={"shown": "none: plaintext"},
    )
    tls_key_file: Path | None = Field(None, description="PEM private key of --tls-cert-file")
    tls_client_ca_file: Path | None = Field(
        None,
        description="PEM CA bundle of client certificates: require one (mTLS), identifying the caller",
        json_schema_extra={"shown": "none: no client certificate"},
    )
    auth_config_file: Path | None = Field(
        None,
        description="YAML or JSON file of users, roles and permissions: authenticate and authorize every call",
        json_schema_extra={"shown": "none: authentication off"},
    )
    trusted_proxy_headers: bool = Field(
        False,
        description="identify callers by the X-Certificate-Client-CN/-Fingerprint headers of the ingress that "
        "terminates TLS in front of the grid (only when nothing else can reach the API)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SecuritySettings:
        cert, key, client_ca = flag_of("tls_cert_file"), flag_of("tls_key_file"), flag_of("tls_client_ca_file")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(f"{cert} and {key} go together: give both or neither")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError(f"{client_ca} (mTLS) needs {cert} and {key}")
        if self.auth_config_file is not None and self.tls_client_ca_file is None and not self.trusted_proxy_headers:
            raise ValueError(
                f"{flag_of('auth_config_file')} needs a way to identify callers: {client_ca} (mTLS) "
                f"or {flag_of('trusted_proxy_headers')} (behind an ingress that checks client certificates)"
            )
        return self


class LimitSettings(BaseSettings):
    """What one client call may carry (docs/security.md: "Limits")."""

    model_config = _CONFIG

    max_message_size: int = Field(
        8 * 1024 * 1024, gt=0, description="largest gRPC message the API receives or sends, in bytes"
    )
    max_tasks_per_request: int = Field(10_000, gt=0, description="tasks one SubmitTasks request may submit")
    max_results_per_request: int = Field(
        10_000, gt=0, description="results one CreateResults or CreateResultsMetaData request may create"
    )
    max_result_data_size: int = Field(
        1024 * 1024 * 1024, gt=0, description="largest data of one result a client uploads, in bytes"
    )
    max_event_streams_per_client: int = Field(
        100, gt=0, description="concurrent GetEvents and WatchResults streams of one user (or one host, without auth)"
    )
    max_id_length: int = Field(
        1024, gt=0, description="longest id or name a request may carry (result names, ids, task option names)"
    )
    max_task_options_size: int = Field(
        16 * 1024,
        gt=0,
        description="largest task options one task carries, in bytes of its names and values (session defaults "
        "merged), which the grid stores with each task",
    )
    max_upload_idle_seconds: float = Field(
        60.0, gt=0, description="longest wait for the next message of an upload (UploadResultData) before it is refused"
    )

    def limits(self) -> limits.Limits:
        """The limits the use cases check, each naming the setting that raises it."""

        def limit(name: str) -> limits.Limit:
            return limits.Limit(getattr(self, name), f"{flag_of(name)} or {env_of(type(self), name)}")

        return limits.Limits(
            tasks_per_request=limit("max_tasks_per_request"),
            results_per_request=limit("max_results_per_request"),
            result_data_size=limit("max_result_data_size"),
            id_length=limit("max_id_length"),
            task_options_size=limit("max_task_options_size"),
        )


class FairShareSettings(BaseSettings):
    """How the partitions a control plane declares share their agents
    (docs/fair-share.md). Given, they are written to every declared
    partition at start; none given, a partition keeps what it has (the
    operator writes it from ``ArmoniKPartition.spec.fairShare``) and a new
    one gets the default: fair by session, equal weights, no caps."""

    model_config = _CONFIG

    fair_share_mode: Literal["fair", "fifo"] | None = Field(
        None,
        description="fair: the keys of one priority share a partition's agents by weight; fifo: first come, "
        "first served (fair share off)",
        json_schema_extra={"shown": "fair"},
    )
    fair_share_key: Literal["session", "application", "user"] | None = Field(
        None,
        description="what shares: each session, each application name, or each user (a session's owner, "
        "with authentication)",
        json_schema_extra={"shown": "session"},
    )
    fair_share_weight: list[str] = Field(
        default_factory=list,
        description=f"KEY=WEIGHT ({fairshare.MIN_WEIGHT:g} to {fairshare.MAX_WEIGHT:g}): a key's share of a "
        "priority's dispatches, relative to the others' (*=WEIGHT: every other key; default 1)",
    )
    fair_share_cap: list[str] = Field(
        default_factory=list,
        description="KEY=N: at most N running tasks of a key in a partition (*=N: every key)",
    )

    @model_validator(mode="after")
    def _valid_fair_share(self) -> FairShareSettings:
        self.fair_share()
        return self

    def fair_share(self) -> fairshare.FairShare | None:
        """The configuration these settings give, ``None`` when none is given."""
        if (
            self.fair_share_mode is None
            and self.fair_share_key is None
            and not (self.fair_share_weight or self.fair_share_cap)
        ):
            return None
        weights, caps = flag_of("fair_share_weight"), flag_of("fair_share_cap")
        return fairshare.fair_share(
            mode=self.fair_share_mode or "fair",
            key=self.fair_share_key or "session",
            weights=fairshare.pairs(self.fair_share_weight, what=weights),
            caps=fairshare.pairs(self.fair_share_cap, what=caps),
            where=(flag_of("fair_share_mode"), flag_of("fair_share_key"), weights, caps),
        )


class AgentRunSettings(StorageSettings, LeaseSettings):
    """How an agent runs its tasks, wherever it runs (alone or in ``local``)."""

    shared_dir: Path | None = Field(
        None,
        description="where the task data folders shared with the worker are made, one per task named after its "
        "communication token as in ArmoniK (whose pods use /cache/shared)",
        json_schema_extra={"shown": "DATA_DIR/shared"},
    )
    heartbeat_seconds: float | None = Field(
        None, gt=0, description="lease renewal and cancel check period", json_schema_extra={"shown": "lease / 5"}
    )
    grace_seconds: float = Field(5.0, ge=0, description="on SIGTERM, time the running task may still run")
    #: Tasks claimed in one store call: the first runs, the others wait
    #: DISPATCHED (leases renewed) and run next without a claim of their own.
    #: Above 1, an agent holds tasks that an idle agent could run.
    prefetch: int = Field(
        1, ge=1, le=64, description="tasks an agent claims at once (the first runs, the others wait their turn)"
    )

    @model_validator(mode="after")
    def _renewed_within_lease(self) -> AgentRunSettings:
        problem = lease_renewal_problem(self.lease_seconds, self.heartbeat)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def shared_folder(self) -> Path:
        return self.shared_dir if self.shared_dir is not None else self.data_dir / "shared"

    @property
    def heartbeat(self) -> float:
        return self.heartbeat_seconds if self.heartbeat_seconds is not None else self.lease_seconds / 5


class AgentProbeSettings(BaseSettings):
    """The HTTP probe endpoint of a standalone agent (its pod's probes)."""

    model_config = _CONFIG

    probe_port: Port | None = Field(
        None,
        description="serve /livez, /readyz, /worker/livez and Prometheus /metrics on this port",
        json_schema_extra={"shown": "off"},
    )
    probe_host: str = Field(
        "0.0.0.0", description="address of the probe port (the kubelet probes a pod's IP; local uses 127.0.0.1)"
    )
    worker_stuck_seconds: float = Field(
        30.0, gt=0, description="a worker unresponsive this long after serving fails /worker/livez (restart it)"
    )


class ControlPlaneSettings(
    LoggingSettings,
    StorageSettings,
    MetricsSettings,
    ServerSettings,
    WebSettings,
    FairShareSettings,
    SecuritySettings,
    LimitSettings,
    LeaseSettings,
):
    """``pyarmonik control-plane``."""

    @model_validator(mode="after")
    def _chunks_fit_messages(self) -> ControlPlaneSettings:
        # A downloaded chunk travels in one message, with a few bytes of framing.
        if self.data_chunk_max_size + 1024 > self.max_message_size:
            raise ValueError(
                f"{flag_of('data_chunk_max_size')} ({self.data_chunk_max_size}) must stay below "
                f"{flag_of('max_message_size')} ({self.max_message_size}) by at least 1024 bytes"
            )
        return self


class AgentSettings(LoggingSettings, AgentRunSettings, AgentProbeSettings):
    """``pyarmonik agent``: one partition, one worker reached by socket."""

    partition: PartitionId = Field("default", description="the partition this agent serves")
    agent_id: str | None = Field(
        None, description="this agent's id in task owner fields", json_schema_extra={"shown": "host name + random"}
    )
    agent_address: str = Field(
        "/cache/armonik_agent.sock",
        validation_alias=AliasChoices("PYARMONIK_AGENT_ADDRESS", "ComputePlane__AgentChannel__Address"),
        description="where the agent serves the Agent service for its worker",
    )
    agent_socket_type: SocketType = Field(
        "unixdomainsocket",
        validation_alias=AliasChoices("PYARMONIK_AGENT_SOCKET_TYPE", "ComputePlane__AgentChannel__SocketType"),
        description="unixdomainsocket or tcp",
    )
    worker_address: str = Field(
        "/cache/armonik_worker.sock",
        validation_alias=AliasChoices("PYARMONIK_WORKER_ADDRESS", "ComputePlane__WorkerChannel__Address"),
        description="where the worker serves the Worker service",
    )
    worker_socket_type: SocketType = Field(
        "unixdomainsocket",
        validation_alias=AliasChoices("PYARMONIK_WORKER_SOCKET_TYPE", "ComputePlane__WorkerChannel__SocketType"),
        description="unixdomainsocket or tcp",
    )
    worker_restart_file: Path | None = Field(
        None,
        description="file in which the agent asks the worker's supervisor for a new worker process after a call it "
        "abandoned (timeout, cancel); local and the operator's pods set it",
        json_schema_extra={"shown": "none: such a worker is waited for"},
    )


class LocalSettings(ControlPlaneSettings, AgentRunSettings):
    """``pyarmonik local``: the control plane's settings and its agents',
    under the same names, plus how many agents and which workers."""

    agents: int = Field(1, ge=0, description="agents, each with its own worker process, per partition")
    worker: list[str] = Field(
        default_factory=list,
        description="worker command for every partition, or PARTITION=COMMAND for one; workers that die are restarted",
    )
    demo: bool = Field(False, description="run the example workers and clients against the grid, then exit")
    redis_appendfsync: Literal["everysec", "always"] = Field(
        "everysec",
        description="the private redis-server (no --redis-url) fsyncs its append-only file every second, or "
        "after every write (always: slower; a power cut loses nothing)",
    )


class OperatorSettings(LoggingSettings):
    """``pyarmonik operator``: kopf reconciling ArmoniKClusters and ArmoniKPartitions."""

    watch_namespace: str | None = Field(
        None, description="the one namespace to watch", json_schema_extra={"shown": "every namespace"}
    )
    resync_seconds: float = Field(
        10.0, gt=0, description="every resource is reconciled again this often (repairs children, refreshes status)"
    )
    liveness_port: Port | None = Field(8080, description="serve the operator's liveness probe at :PORT/healthz")
    autoscale_seconds: float = Field(
        15.0, gt=0, description="how often each autoscaled partition's queue is read and its replicas decided"
    )
    image_repository: str = Field(
        "pyarmonik",
        min_length=1,
        description="PyArmoniK image of the grids whose ArmoniKCluster names none (spec.image.repository)",
    )
    image_tag: str = Field(
        pyarmonik.__version__,
        min_length=1,
        description="its tag, for the grids whose ArmoniKCluster names none (spec.image.tag)",
    )


def lease_renewal_problem(lease_seconds: float, heartbeat_seconds: float) -> str | None:
    """Why an agent renewing its lease every ``heartbeat_seconds`` would lose
    its tasks, in one line naming both settings; ``None`` when it would not.
    One renewal may come late (a busy event loop, a Redis restart) without
    the lease expiring only if renewals come at least twice per lease."""
    if heartbeat_seconds * 2 <= lease_seconds:
        return None
    return (
        f"{flag_of('heartbeat_seconds')} ({heartbeat_seconds:g}) must be at most half of {flag_of('lease_seconds')} "
        f"({lease_seconds:g}): the agent renews its task's lease that often, so a longer period lets the lease "
        "expire under a running task, which is then retried (default: a fifth of the lease)"
    )


def flag_of(name: str) -> str:
    """The command-line flag of the setting ``name``."""
    return "--" + name.replace("_", "-")


def env_names(model: type[BaseSettings], name: str, info: FieldInfo | None = None) -> list[str]:
    """Every environment variable that sets ``name``: ``PYARMONIK_<NAME>``, or
    the aliases a field declares (ArmoniK's ``ComputePlane__*`` names).

    Here rather than in ``settings_flags`` so that the flags, the docs and the
    operator (which renders pod environments) share one definition."""
    info = info if info is not None else model.model_fields[name]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [f"{model.model_config.get('env_prefix', '')}{name}".upper()]


def env_of(model: type[BaseSettings], name: str, info: FieldInfo | None = None) -> str:
    """The environment variables of ``name`` as a user reads them (``A or B``)."""
    return " or ".join(env_names(model, name, info))


#: The settings of each command, for the CLI, the docs and the operator.
COMMANDS: dict[str, type[BaseSettings]] = {
    "local": LocalSettings,
    "control-plane": ControlPlaneSettings,
    "agent": AgentSettings,
    "operator": OperatorSettings,
}
