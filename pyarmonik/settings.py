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

from pydantic import AliasChoices, Field, StringConstraints, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT = 5001
SocketType = Literal["unixdomainsocket", "tcp"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
#: Partition ids become Kubernetes label values and Redis key parts: keep them
#: to what both accept.
PARTITION_ID_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"
PartitionId = Annotated[str, StringConstraints(pattern=PARTITION_ID_PATTERN)]
Port = Annotated[int, Field(ge=0, le=65535)]

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
    """Where state, queues, events and data live. Without ``redis_url`` the
    embedded stores are used (one process only); without ``s3_endpoint``
    objects are files under ``data_dir/objects``."""

    model_config = _CONFIG

    redis_url: str | None = Field(
        None,
        description="Redis URL, e.g. redis://localhost:6379/0",
        json_schema_extra={"shown": "none: embedded stores"},
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
        4096, ge=0, description="objects up to this size live in Redis, not S3 (0: never); needs both"
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
    worker_stuck_seconds: float = Field(
        30.0, gt=0, description="a worker unresponsive this long after serving fails /worker/livez (restart it)"
    )


class ControlPlaneSettings(LoggingSettings, StorageSettings, MetricsSettings, ServerSettings, LeaseSettings):
    """``pyarmonik control-plane``."""


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


class LocalSettings(ControlPlaneSettings, AgentRunSettings):
    """``pyarmonik local``: the control plane's settings and its agents',
    under the same names, plus how many agents and which workers."""

    agents: int = Field(1, ge=0, description="agents, each with its own worker process, per partition")
    worker: list[str] = Field(
        default_factory=list,
        description="worker command for every partition, or PARTITION=COMMAND for one; workers that die are restarted",
    )
    demo: bool = Field(False, description="run the example workers and clients against the grid, then exit")


class OperatorSettings(LoggingSettings):
    """``pyarmonik operator``: kopf reconciling ArmoniKClusters and ArmoniKPartitions."""

    watch_namespace: str | None = Field(
        None, description="the one namespace to watch", json_schema_extra={"shown": "every namespace"}
    )
    resync_seconds: float = Field(
        10.0, gt=0, description="every resource is reconciled again this often (repairs children, refreshes status)"
    )
    liveness_port: Port | None = Field(8080, description="serve the operator's liveness probe at :PORT/healthz")


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
