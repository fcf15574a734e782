"""Security and limit settings: refused in one line when inconsistent."""

from __future__ import annotations

import pathlib

import pydantic
import pytest

from pyarmonik import settings, settings_flags
from pyarmonik.storage.redis import connection


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tls_cert_file": "c.pem"}, "--tls-cert-file and --tls-key-file go together"),
        ({"tls_client_ca_file": "ca.pem"}, "--tls-client-ca-file (mTLS) needs"),
        ({"auth_config_file": "auth.yaml"}, "--auth-config-file needs a way to identify callers"),
        ({"max_message_size": 4096}, "--data-chunk-max-size (2097152) must stay below --max-message-size"),
    ],
)
def test_inconsistent_security_settings_are_refused_naming_the_flags(values: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        settings.ControlPlaneSettings(**values)  # type: ignore[arg-type]

    assert settings_flags.first_error(caught.value, settings.ControlPlaneSettings).startswith(message)


def test_auth_behind_an_ingress_needs_no_client_ca() -> None:
    config = settings.ControlPlaneSettings(auth_config_file=pathlib.Path("a.yaml"), trusted_proxy_headers=True)

    assert config.trusted_proxy_headers


def test_a_redis_ca_file_needs_a_tls_url(tmp_path: pathlib.Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")

    assert connection.tls_options("rediss://redis:6380/0", ca) == {"ssl_ca_certs": str(ca)}
    assert connection.tls_options("rediss://redis:6380/0", None) == {}
    with pytest.raises(ValueError, match="needs a rediss:// URL"):
        connection.tls_options("redis://:secret@redis:6379/0", ca)
    with pytest.raises(ValueError, match="does not exist"):
        connection.tls_options("rediss://redis:6380/0", tmp_path / "missing.pem")
