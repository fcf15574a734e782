"""build_cluster_children: what an ArmoniKCluster becomes."""

from __future__ import annotations

import base64
import copy
from typing import Any

import k8s_bodies
import pytest

from pyarmonik.operator import env
from pyarmonik.operator.builders import cluster, control_plane, object_storage

COMMON_LABELS = {
    "app.kubernetes.io/name": "pyarmonik",
    "app.kubernetes.io/managed-by": "pyarmonik-operator",
}


def _children(body: dict[str, Any], credentials: dict[str, str]) -> list[dict[str, Any]]:
    return cluster.build_cluster_children(k8s_bodies.parsed_cluster(body), secrets=credentials)


def test_every_child_of_the_example_cluster_is_valid_for_kubernetes_1_34(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    for child in _children(cluster_body, credentials):
        k8s_bodies.validate(child)


def test_every_child_of_a_fully_specified_cluster_is_valid_for_kubernetes_1_34(
    full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    for child in _children(full_cluster_body, credentials):
        k8s_bodies.validate(child)


def test_a_managed_grid_runs_redis_minio_and_the_control_plane_under_the_spec_names(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    assert k8s_bodies.kinds(_children(cluster_body, credentials)) == [
        ("ServiceAccount", "grid-grid"),
        ("Role", "grid-grid"),
        ("RoleBinding", "grid-grid"),
        ("NetworkPolicy", "grid-control-plane"),
        ("NetworkPolicy", "grid-redis"),
        ("NetworkPolicy", "grid-minio"),
        ("Service", "grid-redis"),
        ("StatefulSet", "grid-redis"),
        ("Secret", "grid-minio-credentials"),
        ("Service", "grid-minio"),
        ("StatefulSet", "grid-minio"),
        ("Service", "grid-control-plane"),
        ("Deployment", "grid-control-plane"),
        ("PodDisruptionBudget", "grid-control-plane"),
    ]


def test_a_grid_on_external_storage_runs_neither_redis_nor_minio(
    full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    children = _children(full_cluster_body, credentials)
    kinds = {kind for kind, _ in k8s_bodies.kinds(children)}
    assert kinds == {
        "ServiceAccount", "Role", "RoleBinding", "NetworkPolicy", "Service", "Deployment", "PodDisruptionBudget"
    }  # fmt: skip
    assert [policy["metadata"]["name"] for policy in k8s_bodies.of_kind(children, "NetworkPolicy")] == [
        "big-control-plane"
    ]


def test_every_child_is_labelled_and_namespaced_after_its_cluster(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    components = set()
    for child in _children(cluster_body, credentials):
        labels = child["metadata"]["labels"]
        assert labels.items() >= {**COMMON_LABELS, "app.kubernetes.io/instance": "grid"}.items()
        assert labels["pyarmonik.io/cluster"] == "grid"
        assert child["metadata"]["namespace"] == k8s_bodies.NAMESPACE
        components.add(labels["app.kubernetes.io/component"])
    assert components == {"grid", "redis", "object-storage", "control-plane"}


def test_the_control_plane_environment_comes_from_its_settings(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    deployment = k8s_bodies.one(_children(cluster_body, credentials), "Deployment")
    container = k8s_bodies.container(deployment, "control-plane")
    assert container["command"] == ["pyarmonik", "control-plane"]
    variables = k8s_bodies.env_of(container)
    assert variables["PYARMONIK_HOST"] == "0.0.0.0"
    assert variables["PYARMONIK_PORT"] == "5001"
    assert variables["PYARMONIK_PARTITIONS"] == '["default"]'
    assert variables["PYARMONIK_REDIS_URL"] == "redis://grid-redis.science.svc:6379/0"
    assert variables["PYARMONIK_S3_ENDPOINT"] == "grid-minio.science.svc:9000"
    assert variables["PYARMONIK_S3_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "grid-minio-credentials", "key": "accessKey"}
    }
    assert variables["PYARMONIK_S3_SECRET_KEY"] == {
        "secretKeyRef": {"name": "grid-minio-credentials", "key": "secretKey"}
    }
    assert variables["PYARMONIK_LEASE_SECONDS"] == "15.0"
    assert (variables["PYARMONIK_LOG_LEVEL"], variables["PYARMONIK_LOG_FORMAT"]) == ("INFO", "json")
    assert not any(str(value) in credentials.values() for value in variables.values())


def test_the_control_plane_is_probed_by_grpc_health_on_its_port(
    full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    del full_cluster_body["spec"]["tls"], full_cluster_body["spec"]["auth"]
    deployment = k8s_bodies.one(_children(full_cluster_body, credentials), "Deployment")
    container = k8s_bodies.container(deployment, "control-plane")
    assert container["readinessProbe"]["grpc"] == container["livenessProbe"]["grpc"] == {"port": 6000}
    assert container["ports"] == [{"name": "grpc", "containerPort": 6000}, {"name": "metrics", "containerPort": 9090}]
    assert {"name": "PYARMONIK_METRICS_PORT", "value": "9090"} in container["env"]
    assert deployment["spec"]["replicas"] == 3


def test_the_users_control_plane_variables_win_over_the_operators(
    full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    deployment = k8s_bodies.one(_children(full_cluster_body, credentials), "Deployment")
    names = [entry["name"] for entry in k8s_bodies.container(deployment, "control-plane")["env"]]
    assert len(names) == len(set(names))
    variables = k8s_bodies.env_of(k8s_bodies.container(deployment, "control-plane"))
    assert variables["PYARMONIK_LOG_LEVEL"] == "WARNING"
    assert variables["EXTRA"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_an_external_redis_password_reaches_the_url_from_its_secret(
    full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    deployment = k8s_bodies.one(_children(full_cluster_body, credentials), "Deployment")
    entries = k8s_bodies.container(deployment, "control-plane")["env"]
    names = [entry["name"] for entry in entries]
    # The kubelet expands $(VAR) only from variables defined before.
    assert names.index("REDIS_PASSWORD") < names.index("PYARMONIK_REDIS_URL")
    variables = k8s_bodies.env_of(k8s_bodies.container(deployment, "control-plane"))
    assert variables["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "redis-auth", "key": "pw"}}
    assert variables["PYARMONIK_REDIS_URL"] == "redis://:$(REDIS_PASSWORD)@redis.example.com:6380/2"


def test_external_s3_settings_and_credentials_come_from_the_spec_and_its_secret(
    full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    deployment = k8s_bodies.one(_children(full_cluster_body, credentials), "Deployment")
    variables = k8s_bodies.env_of(k8s_bodies.container(deployment, "control-plane"))
    assert variables["PYARMONIK_S3_ENDPOINT"] == "s3.example.com:443"
    assert variables["PYARMONIK_S3_ACCESS_KEY"] == {"secretKeyRef": {"name": "s3-auth", "key": "id"}}
    assert variables["PYARMONIK_S3_SECRET_KEY"] == {"secretKeyRef": {"name": "s3-auth", "key": "secret"}}
    assert (variables["PYARMONIK_S3_BUCKET"], variables["PYARMONIK_S3_SECURE"]) == ("grid-data", "true")
    assert (variables["PYARMONIK_S3_REGION"], variables["PYARMONIK_SMALL_OBJECT_BYTES"]) == ("eu-west-3", "0")


def test_the_minio_secret_holds_the_credentials_given_and_reads_back_unchanged(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    secret = k8s_bodies.one(_children(cluster_body, credentials), "Secret")
    assert {key: base64.b64decode(value).decode() for key, value in secret["data"].items()} == credentials
    assert object_storage.credentials_from_secret(secret) == credentials
    assert _children(cluster_body, credentials) == _children(cluster_body, credentials)


def test_new_minio_credentials_are_random_and_long_enough_for_minio() -> None:
    first, second = object_storage.new_minio_credentials(), object_storage.new_minio_credentials()
    assert first != second
    assert len(first["accessKey"]) >= 3 and len(first["secretKey"]) >= 8


def test_a_managed_minio_without_credentials_is_refused(cluster_body: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="accessKey, secretKey"):
        cluster.build_cluster_children(k8s_bodies.parsed_cluster(cluster_body), secrets={})


def test_minio_reads_its_root_credentials_from_the_secret(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    statefulset = k8s_bodies.named(_children(cluster_body, credentials), "StatefulSet", "grid-minio")
    variables = k8s_bodies.env_of(k8s_bodies.container(statefulset, "minio"))
    assert variables["MINIO_ROOT_USER"] == {"secretKeyRef": {"name": "grid-minio-credentials", "key": "accessKey"}}
    assert variables["MINIO_ROOT_PASSWORD"] == {"secretKeyRef": {"name": "grid-minio-credentials", "key": "secretKey"}}
    assert statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi"


def test_redis_keeps_an_append_only_file_on_its_data_volume(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    cluster_body["spec"]["redis"]["managed"].update(storageClassName="fast", appendfsync="always")
    statefulset = k8s_bodies.named(_children(cluster_body, credentials), "StatefulSet", "grid-redis")
    args = k8s_bodies.container(statefulset, "redis")["args"]
    assert args[:7] == ["redis-server", "--appendonly", "yes", "--appendfsync", "always", "--dir", "/data"]
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert (claim["metadata"]["name"], claim["spec"]["storageClassName"]) == ("data", "fast")
    assert statefulset["spec"]["serviceName"] == "grid-redis"
    service = k8s_bodies.named(_children(cluster_body, credentials), "Service", "grid-redis")
    assert (service["metadata"]["name"], service["spec"]["clusterIP"]) == ("grid-redis", "None")


def test_the_grid_account_mounts_no_token_and_may_get_and_patch_pods(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    children = _children(cluster_body, credentials)
    assert k8s_bodies.one(children, "ServiceAccount")["automountServiceAccountToken"] is False
    assert k8s_bodies.one(children, "Role")["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]}
    ]
    binding = k8s_bodies.one(children, "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "grid-grid", "namespace": "science"}]
    pod = k8s_bodies.one(children, "Deployment")["spec"]["template"]["spec"]
    assert (pod["serviceAccountName"], pod["automountServiceAccountToken"]) == ("grid-grid", False)


def test_the_control_plane_service_and_endpoint_follow_the_service_spec(
    full_cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    service = k8s_bodies.one(_children(full_cluster_body, credentials), "Service")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"] == [
        {"name": "grpc", "port": 443, "targetPort": "grpc", "appProtocol": "grpc"},
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "appProtocol": "http"},
    ]
    assert service["metadata"]["annotations"] == {"example.com/lb": "internal"}
    assert control_plane.endpoint(k8s_bodies.parsed_cluster(full_cluster_body)) == "big-control-plane.science.svc:443"


def test_the_control_plane_pods_run_as_non_root_on_a_read_only_root(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    deployment = k8s_bodies.one(_children(cluster_body, credentials), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert isinstance(pod["securityContext"]["runAsUser"], int)
    context = k8s_bodies.container(deployment, "control-plane")["securityContext"]
    assert context["readOnlyRootFilesystem"] is True and context["capabilities"] == {"drop": ["ALL"]}


def test_a_default_partition_the_control_plane_would_refuse_fails_in_the_builder(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    broken = copy.deepcopy(cluster_body)
    broken["spec"]["controlPlane"]["defaultPartition"] = "no good"
    with pytest.raises(env.InvalidSetting, match="PYARMONIK_PARTITIONS"):
        _children(broken, credentials)


def test_a_change_of_image_changes_the_control_plane_pod_template(
    cluster_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    before = k8s_bodies.one(_children(cluster_body, credentials), "Deployment")["spec"]["template"]
    cluster_body["spec"]["image"] = {"tag": "0.9.0"}
    after = k8s_bodies.one(_children(cluster_body, credentials), "Deployment")["spec"]["template"]
    assert before != after
    assert k8s_bodies.container({"spec": {"template": after}}, "control-plane")["image"] == "pyarmonik:0.9.0"
