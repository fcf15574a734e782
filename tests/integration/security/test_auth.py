"""Authentication and authorization with ArmoniK's users, roles and
permissions: each service's permissions enforced, GetCurrentUser, and the
ingress certificate headers trusted only when told to."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from armonik.client import (
    ArmoniKEvents,
    ArmoniKHealthChecks,
    ArmoniKPartitions,
    ArmoniKResults,
    ArmoniKSessions,
    ArmoniKTasks,
    ArmoniKVersions,
)
from armonik.common import EventTypes
from armonik.common.channel import create_channel
from armonik.protogen.client.applications_service_pb2_grpc import ApplicationsStub
from armonik.protogen.client.auth_service_pb2_grpc import AuthenticationStub
from armonik.protogen.common import applications_common_pb2, auth_common_pb2

from tests.helpers import grpc_code

from ..conftest import default_options
from .conftest import CLIENT_ROLE, SERVICES, Pki, SecureGrid


def _error(call: Callable[[], object]) -> grpc.RpcError:
    try:
        call()
    except grpc.RpcError as error:
        return error
    raise AssertionError("the call succeeded; an error status was expected")


def _list_applications(channel: grpc.Channel) -> object:
    return ApplicationsStub(channel).ListApplications(applications_common_pb2.ListApplicationsRequest(page_size=10))


def current_user(channel: grpc.Channel) -> auth_common_pb2.User:
    return AuthenticationStub(channel).GetCurrentUser(auth_common_pb2.GetCurrentUserRequest()).user


#: One call per service, with the permission it needs.
CALLS: dict[str, tuple[str, Callable[[grpc.Channel], Any]]] = {
    "Sessions": ("Sessions:ListSessions", lambda ch: ArmoniKSessions(ch).list_sessions()),
    "Tasks": ("Tasks:ListTasks", lambda ch: ArmoniKTasks(ch).list_tasks()),
    "Results": ("Results:GetServiceConfiguration", lambda ch: ArmoniKResults(ch).get_service_config()),
    "Events": (
        "Events:GetEvents",
        lambda ch: ArmoniKEvents(ch).get_events("no-such-session", [EventTypes.NEW_RESULT], [lambda *_: True]),
    ),
    "Partitions": ("Partitions:ListPartitions", lambda ch: ArmoniKPartitions(ch).list_partitions()),
    "Applications": ("Applications:ListApplications", _list_applications),
    "Versions": ("Versions:ListVersions", lambda ch: ArmoniKVersions(ch).list_versions()),
    "HealthChecks": ("HealthChecks:CheckHealth", lambda ch: ArmoniKHealthChecks(ch).check_health()),
}


@pytest.mark.parametrize("service", sorted(CALLS))
def test_a_user_without_the_services_permission_is_denied_naming_it(
    service: str, channels: dict[str, grpc.Channel]
) -> None:
    permission, call = CALLS[service]

    error = _error(lambda: call(channels["nobody"]))

    assert error.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    assert permission in error.details()  # type: ignore[attr-defined]
    assert "nobody" in error.details()  # type: ignore[attr-defined]


@pytest.mark.parametrize("service", sorted(CALLS))
def test_a_role_granting_service_wildcard_allows_that_service_only(
    service: str, channels: dict[str, grpc.Channel]
) -> None:
    _, call = CALLS[service]
    channel = channels[f"{service.lower()}-only"]
    other = next(s for s in sorted(CALLS) if s != service)

    try:
        call(channel)
    except grpc.RpcError as error:  # the events call names no real session: NOT_FOUND, past the check
        assert (service, error.code()) == ("Events", grpc.StatusCode.NOT_FOUND)  # type: ignore[attr-defined]
    assert grpc_code(lambda: CALLS[other][1](channel)) == grpc.StatusCode.PERMISSION_DENIED


def test_every_service_has_a_permission_test() -> None:
    assert set(CALLS) | {"Authentication"} == set(SERVICES)


def test_any_known_user_gets_its_own_identity_without_a_permission(channels: dict[str, grpc.Channel]) -> None:
    user = current_user(channels["nobody"])

    assert (user.username, list(user.roles), list(user.permissions)) == ("nobody", [], [])


def test_the_current_user_lists_its_roles_and_expanded_permissions(channels: dict[str, grpc.Channel]) -> None:
    user = current_user(channels["alice"])

    assert user.username == "alice" and list(user.roles) == ["client"]
    assert {"Sessions:CreateSession", "Tasks:SubmitTasks", "Events:GetEvents", "HealthChecks:CheckHealth"} <= set(
        user.permissions
    )
    assert "General:AllSessions" not in user.permissions
    assert all(p.split(":")[0] in SERVICES for p in user.permissions)


def test_the_admin_has_every_permission_including_every_session(channels: dict[str, grpc.Channel]) -> None:
    permissions = set(current_user(channels["admin"]).permissions)

    assert {"General:AllSessions", "Submitter:CreateSession", "Results:WatchResults"} <= permissions


def test_an_unknown_certificate_is_unauthenticated(mtls_grid: SecureGrid) -> None:
    with mtls_grid.connect("stranger") as channel:
        error = _error(lambda: current_user(channel))

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert "stranger" in error.details()  # type: ignore[attr-defined]


def test_a_user_known_by_fingerprint_is_refused_another_certificate_with_its_cn(
    mtls_grid: SecureGrid, pki: Pki, tmp_path: pathlib.Path
) -> None:
    cert, key = pki.ca.issue("pinned").write(tmp_path, "impostor")
    impostor = create_channel(mtls_grid.url, certificate_authority=pki.ca_file, client_certificate=cert, client_key=key)

    with mtls_grid.connect("pinned") as channel:
        assert current_user(channel).username == "pinned"
    with impostor:
        assert grpc_code(lambda: current_user(impostor)) == grpc.StatusCode.UNAUTHENTICATED


def test_a_permitted_user_runs_a_session(channels: dict[str, grpc.Channel]) -> None:
    sessions = ArmoniKSessions(channels["alice"])
    session_id = sessions.create_session(default_options(), partition_ids=["default"])

    assert sessions.get_session(session_id).session_id == session_id


# -- the ingress' certificate headers -----------------------------------------------


class _Headers(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds headers to every call, as an ingress (or a forger) would."""

    def __init__(self, headers: dict[str, str] | list[tuple[str, str]]) -> None:
        self._headers = list(headers.items()) if isinstance(headers, dict) else list(headers)

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=[*(details.metadata or []), *self._headers])

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)


def with_headers(channel: grpc.Channel, cn: str, fingerprint: str) -> grpc.Channel:
    headers = {"x-certificate-client-cn": cn, "x-certificate-client-fingerprint": fingerprint}
    return grpc.intercept_channel(channel, _Headers(headers))


def test_certificate_headers_are_ignored_unless_trusted(mtls_grid: SecureGrid, pki: Pki) -> None:
    forged = with_headers(mtls_grid.connect("nobody"), "admin", pki.client("admin").sha1)

    assert current_user(forged).username == "nobody"
    assert grpc_code(lambda: ArmoniKSessions(forged).list_sessions()) == grpc.StatusCode.PERMISSION_DENIED


def test_trusted_headers_identify_the_user_the_ingress_names(proxied_grid: SecureGrid, pki: Pki) -> None:
    with proxied_grid.connect() as channel:
        alice = with_headers(channel, "alice", pki.client("alice").sha1.upper())

        assert current_user(alice).username == "alice"
        assert ArmoniKSessions(alice).list_sessions()[0] == 0


def test_trusted_headers_naming_an_unknown_certificate_are_unauthenticated(proxied_grid: SecureGrid) -> None:
    with proxied_grid.connect() as channel:
        stranger = with_headers(channel, "stranger", "00" * 20)

        assert grpc_code(lambda: current_user(stranger)) == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("repeated", ["x-certificate-client-cn", "x-certificate-client-fingerprint"])
def test_an_identity_header_sent_twice_is_unauthenticated(proxied_grid: SecureGrid, pki: Pki, repeated: str) -> None:
    """The ingress must replace a client's copy: a request carrying two is
    refused, whichever of them gRPC would have read (it took the last)."""
    values = {
        "x-certificate-client-cn": ["alice", "admin"],
        "x-certificate-client-fingerprint": [pki.client("alice").sha1, pki.client("admin").sha1],
    }
    headers = [(name, value) for name, both in values.items() for value in (both if name == repeated else both[-1:])]
    with proxied_grid.connect() as channel:
        forged = grpc.intercept_channel(channel, _Headers(headers))
        error = _error(lambda: current_user(forged))

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert repeated in error.details().lower()  # type: ignore[attr-defined]


def test_without_the_headers_a_proxied_grid_is_unauthenticated(proxied_grid: SecureGrid) -> None:
    with proxied_grid.connect() as channel:
        error = _error(lambda: current_user(channel))

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert "X-Certificate-Client-CN" in error.details()  # type: ignore[attr-defined]


def test_the_standard_health_service_needs_no_user(proxied_grid: SecureGrid) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with proxied_grid.connect() as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())

    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_the_client_role_is_every_armonik_service() -> None:
    assert len(CLIENT_ROLE) == len(SERVICES)
