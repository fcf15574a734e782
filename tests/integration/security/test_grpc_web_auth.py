"""Authentication and authorization of gRPC-Web calls: the same
interceptor as native calls, identifying callers by the client certificate
of their TLS connection (mTLS on the HTTP port) or by the ingress' headers."""

from __future__ import annotations

import ssl

import grpc
import httpx
import pytest
from armonik.client import ArmoniKSessions
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.common import auth_common_pb2 as auth_pb
from armonik.protogen.common import sessions_common_pb2 as sessions_pb

from tests import grpc_web

from ..conftest import default_options
from .conftest import Pki, SecureGrid

CURRENT_USER = "/armonik.api.grpc.v1.auth.Authentication/GetCurrentUser"
SESSIONS = "/armonik.api.grpc.v1.sessions.Sessions/"


def web_url(grid: SecureGrid) -> str:
    assert grid.local is not None and grid.local.http_port
    return f"{'https' if grid.tls else 'http'}://127.0.0.1:{grid.local.http_port}"


def web_client(pki: Pki, user: str | None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    if user is not None:
        cert, key = pki.client_files(user)
        context.load_cert_chain(cert, key)
    return httpx.Client(verify=context, http2=True, timeout=30)


def current_user(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> grpc_web.Answer:
    return grpc_web.call(client, url, CURRENT_USER, auth_pb.GetCurrentUserRequest(), headers=headers)


def test_a_grpc_web_caller_is_the_user_of_its_client_certificate(mtls_grid: SecureGrid, pki: Pki) -> None:
    with web_client(pki, "alice") as client:
        answer = current_user(client, web_url(mtls_grid))

    assert answer.http_version == "HTTP/2"
    assert answer.messages(auth_pb.GetCurrentUserResponse)[0].user.username == "alice"


def test_a_grpc_web_caller_without_the_permission_is_denied_as_natively(mtls_grid: SecureGrid, pki: Pki) -> None:
    request = sessions_pb.ListSessionsRequest(page_size=1)
    with web_client(pki, "nobody") as client:
        answer = grpc_web.call(client, web_url(mtls_grid), SESSIONS + "ListSessions", request)
    with mtls_grid.connect("nobody") as channel, pytest.raises(grpc.RpcError) as native:
        SessionsStub(channel).ListSessions(request)

    assert answer.code == grpc.StatusCode.PERMISSION_DENIED
    assert answer.details == native.value.details()  # type: ignore[attr-defined]
    assert "Sessions:ListSessions" in answer.details


def test_a_grpc_web_caller_sees_only_its_own_sessions(mtls_grid: SecureGrid, pki: Pki) -> None:
    with mtls_grid.connect("alice") as channel:
        session_id = ArmoniKSessions(channel).create_session(default_options(), partition_ids=["default"])
    request = sessions_pb.GetSessionRequest(session_id=session_id)

    with web_client(pki, "alice") as alice, web_client(pki, "bob") as bob:
        own = grpc_web.call(alice, web_url(mtls_grid), SESSIONS + "GetSession", request)
        other = grpc_web.call(bob, web_url(mtls_grid), SESSIONS + "GetSession", request)

    assert own.messages(sessions_pb.GetSessionResponse)[0].session.session_id == session_id
    assert other.code == grpc.StatusCode.NOT_FOUND


def test_without_a_client_certificate_the_tls_handshake_is_refused(mtls_grid: SecureGrid, pki: Pki) -> None:
    with web_client(pki, None) as client, pytest.raises(httpx.HTTPError):
        current_user(client, web_url(mtls_grid))


def test_behind_an_ingress_the_certificate_headers_name_the_grpc_web_caller(proxied_grid: SecureGrid, pki: Pki) -> None:
    headers = {"X-Certificate-Client-CN": "alice", "X-Certificate-Client-Fingerprint": pki.client("alice").sha1}
    with httpx.Client(timeout=30) as client:
        named = current_user(client, web_url(proxied_grid), headers)
        anonymous = current_user(client, web_url(proxied_grid))

    assert named.messages(auth_pb.GetCurrentUserResponse)[0].user.username == "alice"
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED
    assert "X-Certificate-Client-CN" in anonymous.details
