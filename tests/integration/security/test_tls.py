"""TLS and mTLS of the ArmoniK API, reached with the official client's
``create_channel``; certificates rotated in place are served without a
restart."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import grpc
import pytest
from armonik.client import ArmoniKSessions, ArmoniKVersions
from armonik.common.channel import create_channel

from tests.helpers import grpc_code, wait_for

from .conftest import Pki, SecureGrid, start


@pytest.fixture(scope="module")
def tls_grid(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureGrid]:
    grid = start(tmp_path_factory.mktemp("tls-grid"), pki, tls_cert_file=pki.server_cert, tls_key_file=pki.server_key)
    try:
        yield grid
    finally:
        grid.stop()


@pytest.fixture(scope="module")
def mtls_only_grid(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureGrid]:
    """mTLS without authentication: any certificate of the CA gets in."""
    grid = start(
        tmp_path_factory.mktemp("mtls-only-grid"),
        pki,
        tls_cert_file=pki.server_cert,
        tls_key_file=pki.server_key,
        tls_client_ca_file=pki.ca_file,
    )
    try:
        yield grid
    finally:
        grid.stop()


def versions(channel: grpc.Channel) -> dict[str, str]:
    with channel:
        return ArmoniKVersions(channel).list_versions()


def test_a_client_trusting_the_ca_calls_the_api_over_tls(tls_grid: SecureGrid, pki: Pki) -> None:
    channel = create_channel(tls_grid.url, certificate_authority=pki.ca_file)

    with channel:
        total, _ = ArmoniKSessions(channel).list_sessions()

    assert total == 0


def test_a_plaintext_client_cannot_call_a_tls_server(tls_grid: SecureGrid) -> None:
    channel = create_channel(f"http://127.0.0.1:{tls_grid.port}")

    assert grpc_code(lambda: versions(channel)) == grpc.StatusCode.UNAVAILABLE


def test_a_client_trusting_another_ca_refuses_the_server(tls_grid: SecureGrid, pki: Pki) -> None:
    channel = create_channel(tls_grid.url, certificate_authority=pki.other_ca_file)

    assert grpc_code(lambda: versions(channel)) == grpc.StatusCode.UNAVAILABLE


def test_mtls_lets_in_a_client_certificate_of_the_ca(mtls_only_grid: SecureGrid) -> None:
    assert "core" in versions(mtls_only_grid.connect("anyone"))


def test_mtls_refuses_a_client_without_certificate(mtls_only_grid: SecureGrid) -> None:
    assert grpc_code(lambda: versions(mtls_only_grid.connect(None))) == grpc.StatusCode.UNAVAILABLE


def test_mtls_refuses_a_client_certificate_of_another_ca(
    mtls_only_grid: SecureGrid, pki: Pki, tmp_path: pathlib.Path
) -> None:
    cert, key = pki.other_ca.issue("intruder").write(tmp_path, "intruder")
    channel = create_channel(
        mtls_only_grid.url, certificate_authority=pki.ca_file, client_certificate=cert, client_key=key
    )

    assert grpc_code(lambda: versions(channel)) == grpc.StatusCode.UNAVAILABLE


def test_a_rotated_certificate_is_served_without_restart(tmp_path: pathlib.Path, pki: Pki) -> None:
    """The server's files are replaced by a certificate of another CA: new
    connections get it, as clients trusting only that CA show."""
    folder = tmp_path / "tls"
    cert, key = pki.ca.issue("before", server=True).write(folder, "server")
    grid = start(tmp_path / "grid", pki, tls_cert_file=cert, tls_key_file=key)
    try:
        old_ca, new_ca = grid.connect(fresh=True), grid.connect(ca=pki.other_ca_file, fresh=True)
        assert "core" in versions(old_ca)
        assert grpc_code(lambda: versions(new_ca)) == grpc.StatusCode.UNAVAILABLE

        pki.other_ca.issue("after", server=True).write(folder, "server")

        wait_for(lambda: _reaches(grid.connect(ca=pki.other_ca_file, fresh=True)))
        assert grpc_code(lambda: versions(grid.connect(fresh=True))) == grpc.StatusCode.UNAVAILABLE
    finally:
        grid.stop()


def _reaches(channel: grpc.Channel) -> bool:
    try:
        return "core" in versions(channel)
    except grpc.RpcError:
        return False
