"""settings_env: pod environments rendered from (and validated by) the
settings models."""

from __future__ import annotations

import pytest

from pyarmonik import settings, settings_flags
from pyarmonik.operator import env


def test_a_partition_id_with_a_space_is_refused_naming_the_setting() -> None:
    with pytest.raises(env.InvalidSetting, match=r"partition \(PYARMONIK_PARTITION\).*'my partition'"):
        env.settings_env(settings.AgentSettings, partition="my partition")


def test_a_port_out_of_range_is_refused_naming_the_setting() -> None:
    with pytest.raises(env.InvalidSetting, match=r"port \(PYARMONIK_PORT\).*70000"):
        env.settings_env(settings.ControlPlaneSettings, port=70000)


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(env.InvalidSetting, match="AgentSettings has no setting colour"):
        env.settings_env(settings.AgentSettings, colour="blue")


def test_values_render_as_the_text_the_model_reads_back(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "partitions": ["default", "gpu"],
        "port": 5001,
        "s3_secure": True,
        "lease_seconds": 15,
        "log_level": "debug",
        "data_dir": "/data",
    }
    rendered = env.settings_env(settings.ControlPlaneSettings, **values)
    assert {entry["name"]: entry["value"] for entry in rendered} == {
        "PYARMONIK_PARTITIONS": '["default", "gpu"]',
        "PYARMONIK_PORT": "5001",
        "PYARMONIK_S3_SECURE": "true",
        "PYARMONIK_LEASE_SECONDS": "15.0",
        "PYARMONIK_LOG_LEVEL": "DEBUG",
        "PYARMONIK_DATA_DIR": "/data",
    }
    for entry in rendered:
        monkeypatch.setenv(entry["name"], entry["value"])
    read = settings.ControlPlaneSettings()
    assert (read.partitions, read.port, read.s3_secure, read.lease_seconds, read.log_level, str(read.data_dir)) == (
        ["default", "gpu"],
        5001,
        True,
        15.0,
        "DEBUG",
        "/data",
    )


def test_the_channel_settings_render_under_armoniks_own_names(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = env.settings_env(settings.AgentSettings, agent_address="/cache/a.sock", worker_socket_type="tcp")
    assert rendered == [
        {"name": "ComputePlane__AgentChannel__Address", "value": "/cache/a.sock"},
        {"name": "ComputePlane__WorkerChannel__SocketType", "value": "tcp"},
    ]
    for entry in rendered:
        monkeypatch.setenv(entry["name"], entry["value"])
    read = settings.AgentSettings()
    assert (read.agent_address, read.worker_socket_type) == ("/cache/a.sock", "tcp")


def test_a_secret_becomes_a_secret_key_ref_and_is_not_validated() -> None:
    rendered = env.settings_env(settings.StorageSettings, s3_secret_key=env.SecretRef("creds", "secretKey"))
    assert rendered == [
        {"name": "PYARMONIK_S3_SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "secretKey"}}}
    ]


def test_none_renders_nothing_so_the_default_applies() -> None:
    assert env.settings_env(settings.StorageSettings, s3_region=None, s3_bucket="b") == [
        {"name": "PYARMONIK_S3_BUCKET", "value": "b"}
    ]


def test_the_operators_own_environment_does_not_reach_the_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYARMONIK_PORT", "not a port")
    monkeypatch.setenv("PYARMONIK_LOG_LEVEL", "DEBUG")
    assert env.settings_env(settings.ControlPlaneSettings, host="0.0.0.0") == [
        {"name": "PYARMONIK_HOST", "value": "0.0.0.0"}
    ]


def test_the_users_variables_replace_the_operators_of_the_same_name_in_place() -> None:
    ours = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    theirs = [{"name": "C", "value": "3"}, {"name": "A", "value": "9"}]
    assert env.merged(ours, theirs) == [{"name": "A", "value": "9"}, {"name": "B", "value": "2"}, theirs[0]]


def test_the_cli_and_the_operator_share_one_definition_of_environment_names() -> None:
    assert settings_flags.env_of is settings.env_of
    info = settings.AgentSettings.model_fields["worker_address"]
    assert settings_flags.env_of(settings.AgentSettings, "worker_address", info) == (
        "PYARMONIK_WORKER_ADDRESS or ComputePlane__WorkerChannel__Address"
    )
    assert env.env_name(settings.AgentSettings, "worker_address") == "ComputePlane__WorkerChannel__Address"
    assert env.env_name(settings.AgentSettings, "shared_dir") == "PYARMONIK_SHARED_DIR"


def test_a_setting_given_as_none_renders_nothing_even_where_the_model_refuses_none() -> None:

    rendered = env.settings_env(settings.StorageSettings, s3_endpoint="s3.example:9000", s3_access_key=None)
    assert rendered == [{"name": "PYARMONIK_S3_ENDPOINT", "value": "s3.example:9000"}]
