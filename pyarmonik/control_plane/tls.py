"""TLS credentials of the API server, re-read when the files change.

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
from dataclasses import dataclass
from pathlib import Path

import grpc

log = logging.getLogger(__name__)

_Stamp = tuple[tuple[int, int], ...]


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


def _read(files: TlsFiles) -> grpc.ServerCertificateConfiguration:
    """The files' configuration; ``ValueError`` naming the file that is wrong."""
    for path in files.paths:
        if not path.is_file():
            raise ValueError(f"TLS file {path} does not exist")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(files.cert, files.key)
    except ssl.SSLError as exc:
        raise ValueError(f"TLS certificate {files.cert} and key {files.key} do not make a pair: {exc}") from None
    client_ca = None
    if files.client_ca is not None:
        client_ca = files.client_ca.read_bytes()
        try:
            ssl.create_default_context(cadata=client_ca.decode())
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"TLS client CA {files.client_ca} holds no PEM certificate: {exc}") from None
    return grpc.ssl_server_certificate_configuration(
        [(files.key.read_bytes(), files.cert.read_bytes())], root_certificates=client_ca
    )


class _Reloader:
    def __init__(self, files: TlsFiles) -> None:
        self._files = files
        self.initial = _read(files)
        self._stamp = _stamp(files)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by gRPC at each handshake: a new configuration, or ``None``
        to keep the current one."""
        try:
            stamp = _stamp(self._files)
            if stamp == self._stamp:
                return None
            config = _read(self._files)
        except (OSError, ValueError) as exc:
            log.warning("keeping the current TLS certificate: %s", exc)
            return None
        self._stamp = stamp
        log.info("TLS certificate %s reloaded", self._files.cert)
        return config


def check(files: TlsFiles) -> None:
    """``ValueError`` (or ``OSError``) in one line when ``files`` cannot be served."""
    _read(files)


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """Credentials serving ``files``, reloaded on change; raises ``ValueError``
    (or ``OSError``) in one line when they cannot be read at start."""
    reloader = _Reloader(files)
    return grpc.dynamic_ssl_server_credentials(
        reloader.initial, reloader.fetch, require_client_authentication=files.client_ca is not None
    )
