"""TLS credentials of the API server (its gRPC and HTTP ports), re-read when the files change.

Certificates are rotated in place (cert-manager, a Kubernetes Secret
remounted): gRPC asks for the certificate configuration at each new
handshake, and the files are re-read then if their modification time or
size changed. A half-written rotation (a new certificate beside the old
key) is not served: the pair is checked first, and the current one kept
until the files match again. Connections already open keep their session.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import grpc

log = logging.getLogger(__name__)

_Stamp = tuple[tuple[int, int], ...]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path
    #: CA bundle of the client certificates; set, one is required (mTLS).
    client_ca: Path | None = None

    @property
    def paths(self) -> list[Path]:
        return [self.cert, self.key] + ([self.client_ca] if self.client_ca else [])


def _stamp(files: TlsFiles) -> _Stamp:
    stats = [path.stat() for path in files.paths]
    return tuple((s.st_mtime_ns, s.st_size) for s in stats)


def _check(files: TlsFiles) -> None:
    """``ValueError`` naming the file that is wrong."""
    for path in files.paths:
        if not path.is_file():
            raise ValueError(f"TLS file {path} does not exist")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(files.cert, files.key)
    except ssl.SSLError as exc:
        raise ValueError(f"TLS certificate {files.cert} and key {files.key} do not make a pair: {exc}") from None
    if files.client_ca is not None:
        try:
            ssl.create_default_context(cadata=files.client_ca.read_bytes().decode())
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"TLS client CA {files.client_ca} holds no PEM certificate: {exc}") from None


def _grpc_configuration(files: TlsFiles) -> grpc.ServerCertificateConfiguration:
    _check(files)
    client_ca = files.client_ca.read_bytes() if files.client_ca is not None else None
    return grpc.ssl_server_certificate_configuration(
        [(files.key.read_bytes(), files.cert.read_bytes())], root_certificates=client_ca
    )


def _ssl_context(files: TlsFiles) -> ssl.SSLContext:
    _check(files)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    if files.client_ca is not None:
        context.load_verify_locations(cadata=files.client_ca.read_bytes().decode())
        context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


class _Reloader(Generic[T]):
    def __init__(self, files: TlsFiles, build: Callable[[TlsFiles], T]) -> None:
        self._files, self._build = files, build
        self.initial = build(files)
        self._stamp = _stamp(files)

    def fetch(self) -> T | None:
        """Called at each handshake: a new configuration, or ``None`` to keep the current one."""
        try:
            stamp = _stamp(self._files)
            if stamp == self._stamp:
                return None
            config = self._build(self._files)
        except (OSError, ValueError) as exc:
            log.warning("keeping the current TLS certificate: %s", exc)
            return None
        self._stamp = stamp
        log.info("TLS certificate %s reloaded", self._files.cert)
        return config


def check(files: TlsFiles) -> None:
    """``ValueError`` (or ``OSError``) in one line when ``files`` cannot be served."""
    _grpc_configuration(files)


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """Credentials serving ``files``, reloaded on change; raises ``ValueError``
    (or ``OSError``) in one line when they cannot be read at start."""
    reloader = _Reloader(files, _grpc_configuration)
    return grpc.dynamic_ssl_server_credentials(
        reloader.initial, reloader.fetch, require_client_authentication=files.client_ca is not None
    )


def ssl_context(files: TlsFiles) -> ssl.SSLContext:
    """The same for the HTTP port (``ssl``, ALPN h2 and http/1.1): at each
    handshake (OpenSSL's server-name callback runs with or without SNI) the
    connection moves to the newest context when the files changed."""
    reloader = _Reloader(files, _ssl_context)
    first = current = reloader.initial

    def handshake(connection: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
        nonlocal current
        current = reloader.fetch() or current
        if current is not first:
            connection.context = current

    first.sni_callback = handshake  # type: ignore[assignment]
    return first
