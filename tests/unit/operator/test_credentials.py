"""Credentials reach the pods from Secrets only: every environment variable
the builders render whose name says it holds a credential comes from a
``secretKeyRef``, or, for a ``*_FILE`` setting, names a file of a mounted
Secret; and no credential the operator knows appears in any child but its
Secret."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import k8s_bodies
import pytest

from pyarmonik.operator.builders import cluster, object_storage, partition, worker_supervisor

CREDENTIAL = re.compile(r"KEY|PASSWORD|SECRET|TOKEN", re.IGNORECASE)


def _children(cluster_body: dict[str, Any], partition_body: dict[str, Any], credentials: dict[str, str]) -> list:
    return [
        *cluster.build_cluster_children(k8s_bodies.parsed_cluster(cluster_body), secrets=credentials),
        *partition.build_partition_children(
            k8s_bodies.parsed_partition(partition_body), k8s_bodies.parsed_cluster(cluster_body)
        ),
    ]


def _grids() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (k8s_bodies.load_example("cluster.yaml"), k8s_bodies.load_example("partition-cpu.yaml")),
        (k8s_bodies.full_cluster_body(), k8s_bodies.full_partition_body()),
    ]


def _containers(children: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) of every workload."""
    found = []
    for child in children:
        if child["kind"] in ("Deployment", "StatefulSet"):
            pod = child["spec"]["template"]["spec"]
            found += [(pod, container) for container in [*pod.get("initContainers", []), *pod["containers"]]]
    return found


def _secret_mounts(pod: dict[str, Any], container: dict[str, Any]) -> list[str]:
    secret_volumes = {volume["name"] for volume in pod.get("volumes", []) if "secret" in volume}
    return [mount["mountPath"] for mount in container.get("volumeMounts", []) if mount["name"] in secret_volumes]


@pytest.mark.parametrize(("cluster_body", "partition_body"), _grids(), ids=["managed", "external-tls"])
def test_no_credential_variable_holds_a_literal(
    cluster_body: dict[str, Any], partition_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    checked = []
    for pod, container in _containers(_children(cluster_body, partition_body, credentials)):
        for entry in container.get("env", []):
            if not CREDENTIAL.search(entry["name"]):
                continue
            checked.append(entry["name"])
            if entry["name"].endswith("_FILE"):
                mounts = _secret_mounts(pod, container)
                assert any(entry["value"].startswith(f"{mount}/") for mount in mounts), entry
            else:
                assert "value" not in entry, entry
                assert set(entry["valueFrom"]) == {"secretKeyRef"}, entry
    assert {"PYARMONIK_S3_ACCESS_KEY", "PYARMONIK_S3_SECRET_KEY"} <= set(checked)


def test_the_external_redis_password_and_tls_key_are_among_the_checked(
    full_cluster_body: dict[str, Any], full_partition_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    names = {
        entry["name"]
        for _, container in _containers(_children(full_cluster_body, full_partition_body, credentials))
        for entry in container.get("env", [])
    }
    assert {"REDIS_PASSWORD", "PYARMONIK_TLS_KEY_FILE"} <= names


def test_the_managed_minio_credentials_appear_only_in_their_secret(
    cluster_body: dict[str, Any], cpu_partition_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    children = _children(cluster_body, cpu_partition_body, credentials)
    secrets = [child for child in children if child["kind"] == "Secret"]
    assert [secret["metadata"]["name"] for secret in secrets] == ["grid-minio-credentials"]
    others = json.dumps([child for child in children if child["kind"] != "Secret"])
    for value in credentials.values():
        assert value not in others
        assert base64.b64encode(value.encode()).decode() not in others
    assert object_storage.credentials_from_secret(secrets[0]) == credentials


def test_commands_and_arguments_hold_no_credential(credentials: dict[str, str]) -> None:
    for body, part in _grids():
        for _, container in _containers(_children(body, part, credentials)):
            words = [*container.get("command", []), *container.get("args", [])]
            words = [word for word in words if word != worker_supervisor.SCRIPT]  # its "$@" is no user@host
            assert not [word for word in words if CREDENTIAL.search(word) or "@" in word], container["name"]
    assert not CREDENTIAL.search(worker_supervisor.SCRIPT)
