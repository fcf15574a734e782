"""TLS and authentication of the control plane: the Secret and ConfigMap as
read-only volumes, the settings naming their files, the probes that work
on a TLS port."""

from __future__ import annotations

from typing import Any

import k8s_bodies
import pytest

from pyarmonik import settings
from pyarmonik.operator import env
from pyarmonik.operator.builders import cluster, control_plane


def _deployment(cluster_body: dict[str, Any], credentials: dict[str, str]) -> dict[str, Any]:
    children = cluster.build_cluster_children(k8s_bodies.parsed_cluster(cluster_body), secrets=credentials)
    return k8s_bodies.named(children, "Deployment", f"{cluster_body['metadata']['name']}-control-plane")


def _plane(cluster_body: dict[str, Any], credentials: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = _deployment(cluster_body, credentials)
    return deployment["spec"]["template"]["spec"], k8s_bodies.container(deployment, "control-plane")


def test_without_tls_nothing_is_mounted_and_no_security_setting_is_rendered(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    pod, container = _plane(cluster_body, credentials)
    assert pod["volumes"] == [{"name": "data", "emptyDir": {}}]
    assert not [name for name in k8s_bodies.env_of(container) if "TLS" in name or "AUTH" in name]


def test_tls_mounts_the_secret_read_only_and_names_its_files(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    cluster_body["spec"]["tls"] = {"secretName": "grid-tls"}
    pod, container = _plane(cluster_body, credentials)
    assert pod["volumes"][1] == {
        "name": "tls",
        "secret": {
            "secretName": "grid-tls",
            "defaultMode": 0o440,
            "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}],
        },
    }
    # The whole volume, no subPath: the kubelet swaps a renewed Secret in place.
    assert container["volumeMounts"][1] == {"name": "tls", "mountPath": "/etc/pyarmonik/tls", "readOnly": True}
    variables = k8s_bodies.env_of(container)
    assert variables["PYARMONIK_TLS_CERT_FILE"] == "/etc/pyarmonik/tls/tls.crt"
    assert variables["PYARMONIK_TLS_KEY_FILE"] == "/etc/pyarmonik/tls/tls.key"
    assert "PYARMONIK_TLS_CLIENT_CA_FILE" not in variables
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"], "0440 files readable by it"


def test_client_auth_also_trusts_the_ca_of_the_secret(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    cluster_body["spec"]["tls"] = {"secretName": "grid-tls", "clientAuth": True}
    pod, container = _plane(cluster_body, credentials)
    assert {"key": "ca.crt", "path": "ca.crt"} in pod["volumes"][1]["secret"]["items"]
    assert k8s_bodies.env_of(container)["PYARMONIK_TLS_CLIENT_CA_FILE"] == "/etc/pyarmonik/tls/ca.crt"


def test_with_tls_the_probes_open_a_tcp_connection_and_the_endpoint_is_unchanged(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    before = control_plane.endpoint(k8s_bodies.parsed_cluster(cluster_body))
    cluster_body["spec"]["tls"] = {"secretName": "grid-tls"}
    _, container = _plane(cluster_body, credentials)
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["tcpSocket"] == {"port": 5001} and "grpc" not in container[probe]
    assert (
        control_plane.endpoint(k8s_bodies.parsed_cluster(cluster_body))
        == before
        == "grid-control-plane.science.svc:5001"
    )


def test_the_auth_config_comes_from_a_config_map(cluster_body: dict[str, Any], credentials: dict[str, str]) -> None:
    cluster_body["spec"]["tls"] = {"secretName": "grid-tls", "clientAuth": True}
    cluster_body["spec"]["auth"] = {"configMapName": "grid-auth"}
    pod, container = _plane(cluster_body, credentials)
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == "auth"]
    assert volume["configMap"] == {
        "name": "grid-auth",
        "defaultMode": 0o440,
        "items": [{"key": "auth.yaml", "path": "auth.yaml"}],
    }
    assert {"name": "auth", "mountPath": "/etc/pyarmonik/auth", "readOnly": True} in container["volumeMounts"]
    variables = k8s_bodies.env_of(container)
    assert variables["PYARMONIK_AUTH_CONFIG_FILE"] == "/etc/pyarmonik/auth/auth.yaml"
    assert "PYARMONIK_TRUSTED_PROXY_HEADERS" not in variables


def test_the_auth_config_comes_from_a_secret_under_its_key(
    full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    pod, container = _plane(full_cluster_body, credentials)
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == "auth"]
    assert volume["secret"]["secretName"] == "big-auth"
    assert volume["secret"]["items"] == [{"key": "users.json", "path": "users.json"}]
    assert k8s_bodies.env_of(container)["PYARMONIK_AUTH_CONFIG_FILE"] == "/etc/pyarmonik/auth/users.json"


def test_trusted_proxy_headers_reach_the_settings(
    full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    full_cluster_body["spec"]["auth"]["trustedProxyHeaders"] = True
    _, container = _plane(full_cluster_body, credentials)
    assert k8s_bodies.env_of(container)["PYARMONIK_TRUSTED_PROXY_HEADERS"] == "true"


def test_the_rendered_settings_are_what_the_control_plane_reads(
    full_cluster_body: dict[str, Any], credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, container = _plane(full_cluster_body, credentials)
    for entry in container["env"]:
        if "value" in entry:
            monkeypatch.setenv(entry["name"], entry["value"])
    read = settings.ControlPlaneSettings()
    assert (str(read.tls_cert_file), str(read.tls_client_ca_file)) == (
        "/etc/pyarmonik/tls/tls.crt",
        "/etc/pyarmonik/tls/ca.crt",
    )
    assert str(read.auth_config_file) == "/etc/pyarmonik/auth/users.json"


def test_auth_without_a_way_to_identify_callers_fails_in_the_builder(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    # The CRD refuses it too; a body that skipped the API server stops here.
    cluster_body["spec"]["tls"] = {"secretName": "grid-tls"}
    cluster_body["spec"]["auth"] = {"configMapName": "grid-auth"}
    with pytest.raises(env.InvalidSetting, match="auth-config-file needs a way to identify callers"):
        _plane(cluster_body, credentials)


def test_the_secret_volumes_are_valid_for_kubernetes_1_34(
    full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    k8s_bodies.validate(_deployment(full_cluster_body, credentials))
    full_cluster_body["spec"]["auth"] = {"configMapName": "big-auth"}
    k8s_bodies.validate(_deployment(full_cluster_body, credentials))
