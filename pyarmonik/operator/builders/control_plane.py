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
from pyarmonik.operator import env, model
from pyarmonik.operator.builders import common, gui, object_storage, redis, security

COMPONENT = "control-plane"
#: Local data (nothing the grid depends on) goes to a volume: the root
#: filesystem is read-only.
DATA_DIR = "/data"


def endpoint(cluster: model.Cluster) -> str:
    """``<cluster>-control-plane.<namespace>.svc:<port>``, for the status."""
    port = cluster.spec.control_plane.service.port
    return f"{common.control_plane_name(cluster.name)}.{cluster.namespace}.svc:{port}"


def control_plane_env(cluster: model.Cluster) -> list[dict[str, Any]]:
    spec = cluster.spec
    plane = spec.control_plane
    own = env.settings_env(
        settings.ControlPlaneSettings,
        host="0.0.0.0",
        port=plane.port,
        metrics_port=plane.metrics_port,
        http_port=gui.http_port(cluster),  # None: "off"
        partitions=[plane.default_partition],
        lease_seconds=spec.lease.lease_seconds,
        log_level=spec.logging.level,
        log_format=spec.logging.format,
        data_dir=DATA_DIR,
        **security.settings(cluster),
    )
    storage = redis.redis_env(cluster) + object_storage.object_storage_env(cluster)
    return env.merged(storage + own, plane.env or [])


def build_control_plane_deployment(cluster: model.Cluster) -> dict[str, Any]:
    spec = cluster.spec
    plane = spec.control_plane
    labels = common.labels(cluster.name, COMPONENT)
    container = {
        "name": "control-plane",
        "image": spec.image.reference,
        "imagePullPolicy": spec.image.pull_policy,
        "command": ["pyarmonik", "control-plane"],
        "ports": [
            {"name": "grpc", "containerPort": plane.port},
            {"name": "metrics", "containerPort": plane.metrics_port},
            *gui.control_plane_container_ports(cluster),
        ],
        "env": control_plane_env(cluster),
        "resources": common.resources_of(plane.resources),
        "readinessProbe": {**_probe(cluster), "periodSeconds": 5},
        "livenessProbe": {**_probe(cluster), "periodSeconds": 10, "failureThreshold": 6},
        "securityContext": common.container_security(),
        "volumeMounts": [{"name": "data", "mountPath": DATA_DIR}, *security.mounts(cluster)],
    }
    pod = {
        "serviceAccountName": common.grid_account_name(cluster.name),
        "automountServiceAccountToken": False,
        "securityContext": common.pod_security(common.PYARMONIK_UID),
        **common.pull_secrets(spec),
        "containers": [container],
        "volumes": [{"name": "data", "emptyDir": {}}, *security.volumes(cluster)],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": common.metadata(common.control_plane_name(cluster.name), cluster.namespace, labels),
        "spec": {
            "replicas": plane.replicas,
            "selector": {"matchLabels": common.selector_labels(cluster.name, COMPONENT)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        },
    }


def _probe(cluster: model.Cluster) -> dict[str, Any]:
    """The gRPC health check; with TLS on, a TCP connection only: the
    kubelet's gRPC probes speak plaintext (they have no TLS support), and a
    plaintext probe of a TLS port fails."""
    port = cluster.spec.control_plane.port
    return {"tcpSocket": {"port": port}} if cluster.spec.tls else {"grpc": {"port": port}}


def build_control_plane_service(cluster: model.Cluster) -> dict[str, Any]:
    plane = cluster.spec.control_plane
    service = plane.service
    ports = [
        {"name": "grpc", "port": service.port, "targetPort": "grpc", "appProtocol": "grpc"},
        {"name": "metrics", "port": plane.metrics_port, "targetPort": "metrics", "appProtocol": "http"},
        *gui.control_plane_service_ports(cluster),
    ]
    built = common.service(
        common.control_plane_name(cluster.name),
        cluster.namespace,
        common.labels(cluster.name, COMPONENT),
        common.selector_labels(cluster.name, COMPONENT),
        ports,
        type=service.type,
    )
    if service.annotations:
        built["metadata"]["annotations"] = dict(service.annotations)
    return built


def build_control_plane_pdb(cluster: model.Cluster) -> dict[str, Any]:
    return common.pdb(
        common.control_plane_name(cluster.name),
        cluster.namespace,
        common.labels(cluster.name, COMPONENT),
        common.selector_labels(cluster.name, COMPONENT),
    )
