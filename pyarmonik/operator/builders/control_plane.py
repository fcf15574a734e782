"""The control plane of a grid: Deployment, Service and disruption budget.

The control plane is stateless (everything is in Redis and the object
store), so it is a plain Deployment of ``controlPlane.replicas`` pods behind
one Service. Its settings are ``ControlPlaneSettings`` rendered into the pod
environment; the gRPC health service it serves drives both probes, unless
the API serves TLS (:mod:`pyarmonik.operator.builders.security`).
"""

from __future__ import annotations

from typing import Any

from pyarmonik import settings
from pyarmonik.operator import env
from pyarmonik.operator.builders import common, gui, object_storage, redis, security

COMPONENT = "control-plane"
#: Local data (nothing the grid depends on) goes to a volume: the root
#: filesystem is read-only.
DATA_DIR = "/data"


def endpoint(cluster_body: common.Body) -> str:
    """``<cluster>-control-plane.<namespace>.svc:<port>``, for the status."""
    cluster, namespace = common.name_of(cluster_body), common.namespace_of(cluster_body)
    port = common.cluster_spec(cluster_body)["controlPlane"]["service"]["port"]
    return f"{common.control_plane_name(cluster)}.{namespace}.svc:{port}"


def control_plane_env(cluster_body: common.Body) -> list[dict[str, Any]]:
    spec = common.cluster_spec(cluster_body)
    plane = spec["controlPlane"]
    own = env.settings_env(
        settings.ControlPlaneSettings,
        host="0.0.0.0",
        port=plane["port"],
        metrics_port=plane["metricsPort"],
        http_port=gui.http_port(cluster_body),  # None: "off"
        partitions=[plane["defaultPartition"]],
        lease_seconds=spec["lease"]["leaseSeconds"],
        log_level=spec["logging"]["level"],
        log_format=spec["logging"]["format"],
        data_dir=DATA_DIR,
        **security.settings(cluster_body),
    )
    storage = redis.redis_env(cluster_body) + object_storage.object_storage_env(cluster_body)
    return env.merged(storage + own, plane.get("env") or [])


def build_control_plane_deployment(cluster_body: common.Body) -> dict[str, Any]:
    cluster, namespace = common.name_of(cluster_body), common.namespace_of(cluster_body)
    spec = common.cluster_spec(cluster_body)
    plane = spec["controlPlane"]
    labels = common.labels(cluster, COMPONENT)
    container = {
        "name": "control-plane",
        "image": common.image_of(spec["image"]),
        "imagePullPolicy": spec["image"]["pullPolicy"],
        "command": ["pyarmonik", "control-plane"],
        "ports": [
            {"name": "grpc", "containerPort": plane["port"]},
            {"name": "metrics", "containerPort": plane["metricsPort"]},
            *gui.control_plane_container_ports(cluster_body),
        ],
        "env": control_plane_env(cluster_body),
        "resources": common.resources_of(plane.get("resources")),
        "readinessProbe": {**_probe(cluster_body), "periodSeconds": 5},
        "livenessProbe": {**_probe(cluster_body), "periodSeconds": 10, "failureThreshold": 6},
        "securityContext": common.container_security(),
        "volumeMounts": [{"name": "data", "mountPath": DATA_DIR}, *security.mounts(cluster_body)],
    }
    pod = {
        "serviceAccountName": common.grid_account_name(cluster),
        "automountServiceAccountToken": False,
        "securityContext": common.pod_security(common.PYARMONIK_UID),
        **common.pull_secrets(spec),
        "containers": [container],
        "volumes": [{"name": "data", "emptyDir": {}}, *security.volumes(cluster_body)],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": common.metadata(common.control_plane_name(cluster), namespace, labels),
        "spec": {
            "replicas": plane["replicas"],
            "selector": {"matchLabels": common.selector_labels(cluster, COMPONENT)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        },
    }


def _probe(cluster_body: common.Body) -> dict[str, Any]:
    """The gRPC health check; with TLS on, a TCP connection only: the
    kubelet's gRPC probes speak plaintext (they have no TLS support), and a
    plaintext probe of a TLS port fails."""
    port = common.cluster_spec(cluster_body)["controlPlane"]["port"]
    return {"tcpSocket": {"port": port}} if security.tls_on(cluster_body) else {"grpc": {"port": port}}


def build_control_plane_service(cluster_body: common.Body) -> dict[str, Any]:
    cluster, namespace = common.name_of(cluster_body), common.namespace_of(cluster_body)
    plane = common.cluster_spec(cluster_body)["controlPlane"]
    service = plane["service"]
    ports = [
        {"name": "grpc", "port": service["port"], "targetPort": "grpc", "appProtocol": "grpc"},
        {"name": "metrics", "port": plane["metricsPort"], "targetPort": "metrics", "appProtocol": "http"},
        *gui.control_plane_service_ports(cluster_body),
    ]
    built = common.service(
        common.control_plane_name(cluster),
        namespace,
        common.labels(cluster, COMPONENT),
        common.selector_labels(cluster, COMPONENT),
        ports,
        type=service["type"],
    )
    if service["annotations"]:
        built["metadata"]["annotations"] = dict(service["annotations"])
    return built


def build_control_plane_pdb(cluster_body: common.Body) -> dict[str, Any]:
    cluster, namespace = common.name_of(cluster_body), common.namespace_of(cluster_body)
    return common.pdb(
        common.control_plane_name(cluster),
        namespace,
        common.labels(cluster, COMPONENT),
        common.selector_labels(cluster, COMPONENT),
    )
