"""Object storage of a grid: the managed MinIO, or an external S3 service.

The managed MinIO's root credentials live in the Secret
``<cluster>-minio-credentials``; MinIO and every PyArmoniK process read them
from it (``secretKeyRef``), so they never appear in a pod spec. The builders
are pure: the credentials are an argument. :func:`new_minio_credentials`
makes random ones, once, when the Secret does not exist yet; the operator
never rotates them (MinIO's data on the volume was written under them).
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from pyarmonik import settings
from pyarmonik.operator import env, model
from pyarmonik.operator.builders import common

COMPONENT = "object-storage"
API_PORT = 9000
CONSOLE_PORT = 9001
#: Any non-root user will do for MinIO; this one owns the data volume.
UID = 1000
ACCESS_KEY = "accessKey"
SECRET_KEY = "secretKey"


def new_minio_credentials() -> dict[str, str]:
    """Random root credentials (MinIO wants at least 3 and 8 characters)."""
    return {ACCESS_KEY: "pyarmonik-" + secrets.token_hex(6), SECRET_KEY: secrets.token_urlsafe(30)}


def credentials_from_secret(secret: dict[str, Any]) -> dict[str, str]:
    """The credentials of an existing ``<cluster>-minio-credentials`` Secret,
    as read from the API (base64 ``data``), to rebuild it unchanged."""
    data = secret.get("data") or {}
    return {key: base64.b64decode(data[key]).decode() for key in (ACCESS_KEY, SECRET_KEY)}


def build_minio_secret(cluster: model.Cluster, credentials: dict[str, str]) -> dict[str, Any]:
    missing = {ACCESS_KEY, SECRET_KEY} - set(credentials)
    if missing:
        raise ValueError(f"MinIO credentials lack {', '.join(sorted(missing))}")
    # ``data`` rather than ``stringData``: it is what the API returns, so a
    # rebuilt Secret compares equal to the stored one.
    data = {key: base64.b64encode(credentials[key].encode()).decode() for key in (ACCESS_KEY, SECRET_KEY)}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": common.metadata(
            common.minio_secret_name(cluster.name), cluster.namespace, common.labels(cluster.name, COMPONENT)
        ),
        "type": "Opaque",
        "data": data,
    }


def build_minio_statefulset(cluster: model.Cluster) -> dict[str, Any]:
    spec = cluster.spec
    managed = spec.object_storage.managed
    labels = common.labels(cluster.name, COMPONENT)
    secret = common.minio_secret_name(cluster.name)
    container = {
        "name": "minio",
        "image": managed.image,
        # Certificates under the writable /tmp: the root filesystem is read-only.
        "args": [
            "server",
            "/data",
            f"--address=:{API_PORT}",
            f"--console-address=:{CONSOLE_PORT}",
            "--certs-dir=/tmp/certs",
        ],
        "env": [
            {"name": "MINIO_ROOT_USER", "valueFrom": {"secretKeyRef": {"name": secret, "key": ACCESS_KEY}}},
            {"name": "MINIO_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": SECRET_KEY}}},
        ],
        "ports": [{"name": "s3", "containerPort": API_PORT}, {"name": "console", "containerPort": CONSOLE_PORT}],
        "readinessProbe": {"httpGet": {"path": "/minio/health/ready", "port": "s3"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/minio/health/live", "port": "s3"}, "periodSeconds": 10},
        "resources": common.resources_of(managed.resources),
        "securityContext": common.container_security(),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    pod = {
        "securityContext": common.pod_security(UID),
        "automountServiceAccountToken": False,
        **common.pull_secrets(spec),
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    claim = common.volume_claim(managed.storage, managed.storage_class_name, labels)
    selector = common.selector_labels(cluster.name, COMPONENT)
    return common.single_statefulset(
        common.minio_name(cluster.name), cluster.namespace, labels, selector, pod, claim, persistence=spec.persistence
    )


def build_minio_service(cluster: model.Cluster) -> dict[str, Any]:
    ports = [
        {"name": "s3", "port": API_PORT, "targetPort": "s3"},
        {"name": "console", "port": CONSOLE_PORT, "targetPort": "console"},
    ]
    return common.service(
        common.minio_name(cluster.name),
        cluster.namespace,
        common.labels(cluster.name, COMPONENT),
        common.selector_labels(cluster.name, COMPONENT),
        ports,
        type="ClusterIP",
    )


def object_storage_env(cluster: model.Cluster) -> list[dict[str, Any]]:
    """The ``PYARMONIK_S3_*`` settings (and the small-object threshold) of
    every process of the grid, keys from their Secret."""
    storage = cluster.spec.object_storage
    values: dict[str, Any]
    if storage.mode == "managed":
        secret = common.minio_secret_name(cluster.name)
        values = {
            "s3_endpoint": f"{common.minio_name(cluster.name)}.{cluster.namespace}.svc:{API_PORT}",
            "s3_access_key": env.SecretRef(secret, ACCESS_KEY),
            "s3_secret_key": env.SecretRef(secret, SECRET_KEY),
            "s3_bucket": storage.bucket,
            "s3_secure": False,
        }
    else:
        external = storage.external
        ref = external.credentials_secret_ref
        values = {
            "s3_endpoint": external.endpoint,
            "s3_access_key": env.SecretRef(ref.name, ref.access_key_key) if ref else None,
            "s3_secret_key": env.SecretRef(ref.name, ref.secret_key_key) if ref else None,
            "s3_bucket": external.bucket or storage.bucket,
            "s3_secure": external.secure,
            "s3_region": external.region,
        }
    return env.settings_env(settings.StorageSettings, **values, small_object_bytes=storage.small_object_bytes)
