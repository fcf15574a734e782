"""Settings of every PyArmoniK process, from flags and environment variables.

Models only: nothing is read until a model is instantiated, so the operator
can import them to render pod environments without side effects.

Each setting has one environment variable (``PYARMONIK_<NAME>``, or ArmoniK's
own ``ComputePlane__*`` names for the worker channels) so that the Helm chart
and the operator configure processes exactly as the CLI does. Flags given on
the command line win over the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT = 5001
SocketType = Literal["unixdomainsocket", "tcp"]


class StorageSettings(BaseSettings):
    """Where state, queues, events and data live. Without ``redis_url`` the
    embedded stores are used (one process only); without ``s3_endpoint``
    objects are files under ``data_dir/objects``."""

    model_config = SettingsConfigDict(env_prefix="PYARMONIK_", extra="ignore")

    redis_url: str | None = Field(None, description="Redis URL, e.g. redis://localhost:6379/0")
    s3_endpoint: str | None = Field(None, description="S3/MinIO endpoint host:port")
    s3_access_key: str = Field("", description="S3 access key")
    s3_secret_key: str = Field("", description="S3 secret key")
    s3_bucket: str = Field("pyarmonik", description="bucket of result data, created when missing")
    s3_secure: bool = Field(False, description="use TLS to reach S3")
    s3_region: str | None = Field(None, description="S3 region, if the server needs one")
    small_object_bytes: int = Field(
        4096, ge=0, description="objects up to this size live in Redis, not S3 (0: never); needs both"
    )
    data_dir: Path = Field(Path("pyarmonik-data"), description="local data: filesystem objects, logs")
    data_chunk_max_size: int = Field(2 * 1024 * 1024, gt=0, description="chunk size of result streams")


class ControlPlaneSettings(StorageSettings):
    host: str = Field("0.0.0.0", description="address to serve the ArmoniK API on")
    port: int = Field(DEFAULT_PORT, ge=0, le=65535, description="ArmoniK API port")
    partitions: list[str] = Field(
        default_factory=lambda: ["default"], description="partitions to declare (JSON list in the environment)"
    )


class AgentSettings(StorageSettings):
    # Flags pass fields by name; the environment may use ArmoniK's aliases.
    model_config = SettingsConfigDict(env_prefix="PYARMONIK_", extra="ignore", populate_by_name=True)

    partition: str = Field("default", description="the partition this agent serves")
    agent_id: str | None = Field(None, description="this agent's id in task owner fields (default: host name + random)")
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
    shared_dir: Path = Field(Path("/cache/shared"), description="data folders shared with the worker")
    lease_seconds: float = Field(15.0, gt=0, description="task lease; a silent agent loses its task after this")
    heartbeat_seconds: float = Field(3.0, gt=0, description="lease renewal and cancel check period")
    grace_seconds: float = Field(5.0, ge=0, description="on SIGTERM, time the running task may still run")
