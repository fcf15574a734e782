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
from pyarmonik.operator import env
from pyarmonik.operator.builders import common

COMPONENT = "redis"
PORT = 6379
#: The official image's ``redis`` user.
UID = 999
#: Not a setting: only expanded by the kubelet into ``PYARMONIK_REDIS_URL``.
PASSWORD_VARIABLE = "REDIS_PASSWORD"


def build_redis_statefulset(cluster_body: common.Body) -> dict[str, Any]:
    cluster, namespace = common.name_of(cluster_body), common.namespace_of(cluster_body)
    spec = common.cluster_spec(cluster_body)
    managed = spec["redis"]["managed"]
    labels = common.labels(cluster, COMPONENT)
    container = {
        "name": "redis",
        "image": managed["image"],
        "args": [
            "redis-server",
            "--appendonly",
            "yes",
            "--appendfsync",
            managed["appendfsync"],
            "--dir",
            "/data",
            # Other images than the official one refuse remote clients without it.
            "--protected-mode",
            "no",
        ],
        "ports": [{"name": "redis", "containerPort": PORT}],
        "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10, "failureThreshold": 6},
        "resources": common.resources_of(managed.get("resources")),
        "securityContext": common.container_security(),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    pod = {
        "securityContext": common.pod_security(UID),
        "automountServiceAccountToken": False,
        **common.pull_secrets(spec),
        "containers": [container],
    }
    claim = common.volume_claim(managed["storage"], managed.get("storageClassName"), labels)
    selector = common.selector_labels(cluster, COMPONENT)
    return common.single_statefulset(common.redis_name(cluster), namespace, labels, selector, pod, claim)


def build_redis_service(cluster_body: common.Body) -> dict[str, Any]:
    """Headless: it names the StatefulSet's pod in DNS, and Redis has one."""
    cluster, namespace = common.name_of(cluster_body), common.namespace_of(cluster_body)
    ports = [{"name": "redis", "port": PORT, "targetPort": "redis"}]
    return common.service(
        common.redis_name(cluster),
        namespace,
        common.labels(cluster, COMPONENT),
        common.selector_labels(cluster, COMPONENT),
        ports,
        clusterIP="None",
    )


def redis_url(cluster_body: common.Body) -> str:
    """The URL the processes use, with ``$(REDIS_PASSWORD)`` in place of an
    external Redis's password."""
    redis = common.cluster_spec(cluster_body)["redis"]
    if redis["mode"] == "managed":
        cluster, namespace = common.name_of(cluster_body), common.namespace_of(cluster_body)
        return f"redis://{common.redis_name(cluster)}.{namespace}.svc:{PORT}/0"
    url = str(redis["external"]["url"])
    if not redis["external"].get("passwordSecretRef"):
        return url
    parts = urllib.parse.urlsplit(url)
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:$({PASSWORD_VARIABLE})@{host}"))


def redis_env(cluster_body: common.Body) -> list[dict[str, Any]]:
    """The environment reaching this grid's Redis; the password variable comes
    first, as the kubelet expands only variables defined earlier."""
    redis = common.cluster_spec(cluster_body)["redis"]
    ref = (redis.get("external") or {}).get("passwordSecretRef") if redis["mode"] == "external" else None
    password = []
    if ref:
        secret = {"secretKeyRef": {"name": ref["name"], "key": ref["key"]}}
        password = [{"name": PASSWORD_VARIABLE, "valueFrom": secret}]
    return password + env.settings_env(settings.StorageSettings, redis_url=redis_url(cluster_body))
