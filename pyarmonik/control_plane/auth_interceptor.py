"""The one place where callers are authenticated and RPCs authorized.

Every ArmoniK RPC needs the permission named after it (``Sessions:CreateSession``,
``api.method_permissions``), as in ArmoniK.Core; ``Authentication:GetCurrentUser``
needs a known user but no permission (Core's ``IgnoreAuthorization``), and
services that are not ArmoniK's (``grpc.health.v1``, for probes) need none.

The caller is identified by its client certificate (mTLS: the CN and
fingerprint of the certificate the TLS layer verified) or, only when
``trusted_proxy_headers`` is on, by the ``X-Certificate-Client-CN`` and
``X-Certificate-Client-Fingerprint`` headers of the ingress that terminated
TLS (ArmoniK's nginx). Anyone able to reach the API directly could forge
those headers: that is why they are ignored unless asked for, and why the
peer's certificate is then ignored (it is the ingress'). A request carrying
either header twice is refused (the ingress must replace a client's copy).

An unknown caller is UNAUTHENTICATED; a known one lacking the permission
PERMISSION_DENIED, naming it. The caller's ``Identity`` is then the
``identity.current()`` of the call, which is all servicers and use cases
know of it: they never look at the transport. Authentication off, every
caller is ``identity.ANONYMOUS`` (allowed everything).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc import aio

from pyarmonik.control_plane import api
from pyarmonik.control_plane.auth_config import AuthConfig
from pyarmonik.core import errors, identity
from pyarmonik.protocol import handlers

log = logging.getLogger(__name__)

CN_HEADER = "x-certificate-client-cn"
FINGERPRINT_HEADER = "x-certificate-client-fingerprint"
#: Needs a known caller, but no permission (ArmoniK.Core's IgnoreAuthorization).
NO_PERMISSION = frozenset({"Authentication:GetCurrentUser"})


@functools.lru_cache(maxsize=1024)
def fingerprints(pem: bytes) -> tuple[str, str]:
    """(SHA-1, SHA-256) hex fingerprints of a PEM certificate."""
    der = ssl.PEM_cert_to_DER_cert(pem.decode())
    return hashlib.sha1(der).hexdigest(), hashlib.sha256(der).hexdigest()


def _first(values: Any, key: str) -> bytes | None:
    found = values.get(key) or []
    return found[0] if found else None


def _identity_headers(context: aio.ServicerContext) -> tuple[str | None, str | None]:
    """The ingress' CN and fingerprint headers. Either one sent twice is
    UNAUTHENTICATED: the ingress replaces a client's copy, so two of them
    mean a forged one got through (which one gRPC kept would decide who calls)."""
    found: dict[str, list[str]] = {CN_HEADER: [], FINGERPRINT_HEADER: []}
    for key, value in context.invocation_metadata() or ():
        if key in found:
            found[key].append(value if isinstance(value, str) else value.decode(errors="replace"))
    for key, values in found.items():
        if len(values) > 1:
            raise errors.Unauthenticated(f"the certificate header {key} was sent {len(values)} times: expected once")
    cn, fingerprint = found[CN_HEADER], found[FINGERPRINT_HEADER]
    return cn[0] if cn else None, fingerprint[0] if fingerprint else None


class AuthInterceptor(handlers.WrappingInterceptor):
    def __init__(self, config: AuthConfig | None, *, trusted_proxy_headers: bool = False) -> None:
        super().__init__()
        self._config = config
        self._trusted_proxy_headers = trusted_proxy_headers
        self._permissions = api.method_permissions()

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        permission = self._permissions.get(method)
        if permission is None:
            return handler
        return handlers.guarded(handler, functools.partial(self._guard, permission))

    @contextlib.asynccontextmanager
    async def _guard(self, permission: str, request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
        token = identity.set_current(self.authorize(permission, context))
        try:
            yield request
        finally:
            with contextlib.suppress(ValueError):  # a stream closed from another context
                identity.reset(token)

    def authorize(self, permission: str, context: aio.ServicerContext) -> identity.Identity:
        if self._config is None:
            return identity.ANONYMOUS
        caller = self._identify(self._config, context)
        if permission not in NO_PERMISSION and not caller.allows(permission):
            log.info("user %s refused %s", caller.username, permission)
            raise errors.PermissionDenied(f"user {caller.username!r} lacks the permission {permission}")
        return caller

    def _identify(self, config: AuthConfig, context: aio.ServicerContext) -> identity.Identity:
        if self._trusted_proxy_headers:
            cn, fingerprint = _identity_headers(context)
            if not cn or not fingerprint:
                raise errors.Unauthenticated(
                    "missing certificate headers X-Certificate-Client-CN and X-Certificate-Client-Fingerprint"
                )
            caller, shown = config.identify(cn, [fingerprint]), fingerprint
        else:
            auth = context.auth_context()
            pem, name = _first(auth, "x509_pem_cert"), _first(auth, "x509_common_name")
            if pem is None:
                raise errors.Unauthenticated("no client certificate: connect with one (mTLS)")
            cn = name.decode() if name else None
            caller, shown = config.identify(cn, fingerprints(pem)), fingerprints(pem)[0]
        if caller is None:
            log.info("unknown certificate CN=%s fingerprint=%s", cn, shown)
            raise errors.Unauthenticated(f"unknown user certificate (CN {cn!r}, fingerprint {shown})")
        return caller
