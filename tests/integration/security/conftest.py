"""Grids served over TLS/mTLS with authentication on, and the certificates,
users and roles the security tests connect with.

Users (one client certificate each, CN = user name, signed by ``pki.ca``):
``admin`` (``*``), ``alice`` and ``bob`` (the client role: every service,
their own sessions only), ``nobody`` (no role), ``pinned`` (known by CN
*and* fingerprint), and ``<service>-only`` per service (``Service:*`` alone).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from armonik.common.channel import create_channel

from pyarmonik.settings import LocalSettings
from tests.certs import CertificateAuthority, Issued
from tests.grid_thread import GridThread
from tests.integration.conftest import CHUNK_SIZE, PARTITIONS

#: ArmoniK.Core's permission services, one test user each.
SERVICES = (
    "Sessions",
    "Tasks",
    "Results",
    "Events",
    "Partitions",
    "Applications",
    "Versions",
    "HealthChecks",
    "Authentication",
)
CLIENT_ROLE = [f"{service}:*" for service in SERVICES]
USERS = ("admin", "alice", "bob", "nobody", *(f"{s.lower()}-only" for s in SERVICES))


@dataclass
class Pki:
    folder: pathlib.Path
    ca: CertificateAuthority = field(default_factory=CertificateAuthority)
    other_ca: CertificateAuthority = field(default_factory=lambda: CertificateAuthority("another CA"))
    _clients: dict[str, Issued] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ca_file = self.ca.write(self.folder, "ca")
        self.other_ca_file = self.other_ca.write(self.folder, "other-ca")
        self.server_cert, self.server_key = self.ca.issue("pyarmonik", server=True).write(self.folder, "server")

    def client(self, cn: str) -> Issued:
        if cn not in self._clients:
            self._clients[cn] = self.ca.issue(cn)
        return self._clients[cn]

    def client_files(self, cn: str) -> tuple[pathlib.Path, pathlib.Path]:
        return self.client(cn).write(self.folder / "clients", cn)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def auth_config(pki: Pki) -> dict[str, Any]:
    users = [
        {"name": "admin", "cn": "admin", "roles": ["admin"]},
        {"name": "alice", "cn": "alice", "roles": ["client"]},
        {"name": "bob", "cn": "bob", "roles": ["client"]},
        {"name": "nobody", "cn": "nobody", "roles": []},
        {"name": "pinned", "cn": "pinned", "fingerprint": pki.client("pinned").sha1, "roles": ["client"]},
        *({"name": f"{s.lower()}-only", "cn": f"{s.lower()}-only", "roles": [f"{s}-role"]} for s in SERVICES),
    ]
    roles = [
        {"name": "admin", "permissions": ["*"]},
        {"name": "client", "permissions": CLIENT_ROLE},
        *({"name": f"{s}-role", "permissions": [f"{s}:*"]} for s in SERVICES),
    ]
    return {"users": users, "roles": roles}


class SecureGrid(GridThread):
    """``pyarmonik local`` without workers, with security settings."""

    def __init__(self, root: pathlib.Path, pki: Pki, **security: Any) -> None:
        security.setdefault("data_chunk_max_size", CHUNK_SIZE)
        super().__init__(LocalSettings(port=0, data_dir=root, partitions=list(PARTITIONS), **security))
        self.pki = pki
        self.tls = security.get("tls_cert_file") is not None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def connect(self, user: str | None = None, *, ca: pathlib.Path | None = None, fresh: bool = False) -> grpc.Channel:
        """The official client's channel; ``user`` presents that user's certificate."""
        if not self.tls:
            return create_channel(self.url)
        cert, key = self.pki.client_files(user) if user else (None, None)
        options = (("grpc.use_local_subchannel_pool", 1),) if fresh else None
        return create_channel(
            self.url,
            options=options,  # type: ignore[arg-type]
            certificate_authority=ca or self.pki.ca_file,
            client_certificate=cert,
            client_key=key,
        )


def start(root: pathlib.Path, pki: Pki, **security: Any) -> SecureGrid:
    return SecureGrid(root, pki, **security).start()  # type: ignore[return-value]


def write_auth_config(folder: pathlib.Path, pki: Pki) -> pathlib.Path:
    path = folder / "auth.json"
    path.write_text(json.dumps(auth_config(pki)))
    return path


@pytest.fixture(scope="module")
def mtls_grid(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureGrid]:
    """mTLS, authentication and authorization on."""
    root = tmp_path_factory.mktemp("mtls-grid")
    grid = start(
        root,
        pki,
        tls_cert_file=pki.server_cert,
        tls_key_file=pki.server_key,
        tls_client_ca_file=pki.ca_file,
        auth_config_file=write_auth_config(root, pki),
    )
    try:
        yield grid
    finally:
        grid.stop()


@pytest.fixture(scope="module")
def channels(mtls_grid: SecureGrid) -> Iterator[dict[str, grpc.Channel]]:
    """An mTLS channel per user, opened on first use."""
    opened: dict[str, grpc.Channel] = {}

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, user: str) -> grpc.Channel:
            opened[user] = mtls_grid.connect(user)
            return opened[user]

    yield Lazy()
    for channel in opened.values():
        channel.close()


@pytest.fixture(scope="module")
def proxied_grid(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureGrid]:
    """Behind an ingress terminating TLS: plaintext, identified by headers."""
    root = tmp_path_factory.mktemp("proxied-grid")
    grid = start(root, pki, auth_config_file=write_auth_config(root, pki), trusted_proxy_headers=True)
    try:
        yield grid
    finally:
        grid.stop()
