"""Redis of a grid: the managed StatefulSet, or the address of an external one.

State, queues and events all live in Redis, so the managed one keeps an
append-only file on a persistent volume (``--appendonly yes``): a restarted
Redis pod loses no task. Either way the processes get one setting,
``PYARMONIK_REDIS_URL``; an external Redis's password comes from its Secret
through ``$(REDIS_PASSWORD)``, which the kubelet expands into the URL, so the
password never appears in a manifest.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from pyarmonik import settings
from pyarmonik.operator import env, model
from pyarmonik.operator.builders import common

COMPONENT = "redis"
PORT = 6379
#: The official image's ``redis`` user.
UID = 999
#: Not a setting: only expanded by the kubelet into ``PYARMONIK_REDIS_URL``.
PASSWORD_VARIABLE = "REDIS_PASSWORD"


def build_redis_statefulset(cluster: model.Cluster) -> dict[str, Any]:
    spec = cluster.spec
    managed = spec.redis.managed
    labels = common.labels(cluster.name, COMPONENT)
    container = {
        "name": "redis",
        "image": managed.image,
        "args": [
            "redis-server",
            "--appendonly",
            "yes",
            "--appendfsync",
            managed.appendfsync,
            "--dir",
            "/data",
            # Other images than the official one refuse remote clients without it.
            "--protected-mode",
            "no",
        ],
        "ports": [{"name": "redis", "containerPort": PORT}],
        "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10, "failureThreshold": 6},
        "resources": common.resources_of(managed.resources),
        "securityContext": common.container_security(),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    pod = {
        "securityContext": common.pod_security(UID),
        "automountServiceAccountToken": False,
        **common.pull_secrets(spec),
        "containers": [container],
    }
    claim = common.volume_claim(managed.storage, managed.storage_class_name, labels)
    selector = common.selector_labels(cluster.name, COMPONENT)
    return common.single_statefulset(
        common.redis_name(cluster.name), cluster.namespace, labels, selector, pod, claim, persistence=spec.persistence
    )


def build_redis_service(cluster: model.Cluster) -> dict[str, Any]:
    """Headless: it names the StatefulSet's pod in DNS, and Redis has one."""
    ports = [{"name": "redis", "port": PORT, "targetPort": "redis"}]
    return common.service(
        common.redis_name(cluster.name),
        cluster.namespace,
        common.labels(cluster.name, COMPONENT),
        common.selector_labels(cluster.name, COMPONENT),
        ports,
        clusterIP="None",
    )


def redis_url(cluster: model.Cluster) -> str:
    """The URL the processes use, with ``$(REDIS_PASSWORD)`` in place of an
    external Redis's password."""
    redis = cluster.spec.redis
    if redis.mode == "managed":
        return f"redis://{common.redis_name(cluster.name)}.{cluster.namespace}.svc:{PORT}/0"
    external = redis.external or model.RedisExternal()
    url = str(external.url)
    if not external.password_secret_ref:
        return url
    parts = urllib.parse.urlsplit(url)
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:$({PASSWORD_VARIABLE})@{host}"))


def password_ref(cluster: model.Cluster) -> model.PasswordRef | None:
    """The Secret key of an external Redis's password, if it has one."""
    redis = cluster.spec.redis
    return redis.external.password_secret_ref if redis.mode == "external" and redis.external else None


def redis_env(cluster: model.Cluster) -> list[dict[str, Any]]:
    """The environment reaching this grid's Redis; the password variable comes
    first, as the kubelet expands only variables defined earlier."""
    ref = password_ref(cluster)
    password = []
    if ref:
        secret = {"secretKeyRef": {"name": ref.name, "key": ref.key}}
        password = [{"name": PASSWORD_VARIABLE, "valueFrom": secret}]
    return password + env.settings_env(settings.StorageSettings, redis_url=redis_url(cluster))
