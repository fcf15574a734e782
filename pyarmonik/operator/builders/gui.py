"""ArmoniK's Admin GUI beside a grid's control plane (``spec.gui``).

ArmoniK's own image (nginx serving the GUI at ``/admin/en/`` and
``/admin/fr/`` on port 1080) runs in a Deployment behind a Service. The
control plane serves gRPC-Web and ``/static/environment.json`` on its HTTP
port, which it opens only with the GUI. One Ingress is the entry point:
each ArmoniK service's path (``/armonik.api.grpc.v1.<package>.<Service>``,
gRPC-Web) and ``/static`` go to that port, the rest to the GUI, so the GUI
calls the API from its own origin as it does in ArmoniK.

Nothing of the API's protection is lost: gRPC-Web calls go through the
control plane's interceptors (authentication, authorization, limits);
behind an Ingress that terminates TLS, callers are identified by the
certificate headers it sets (``auth.trustedProxyHeaders``, which then lets
in only ``networkPolicy.ingressFrom``). The NetworkPolicies open the HTTP
port and the GUI's to the API's peers only (:mod:`.network`).
"""

from __future__ import annotations

from typing import Any

from pyarmonik.operator import model
from pyarmonik.operator.builders import common

COMPONENT = "gui"
#: The port of nginx in ArmoniK's image, and the user it runs as.
PORT, UID = 1080, 5000
#: Where ArmoniK's image serves the GUI (its build's base href is /admin/).
HOME = "/admin/en/"
#: The ArmoniK services the GUI calls: the paths routed to the control
#: plane's gRPC-Web port (a test checks them against the API's stubs).
SERVICES = (
    "armonik.api.grpc.v1.applications.Applications",
    "armonik.api.grpc.v1.auth.Authentication",
    "armonik.api.grpc.v1.events.Events",
    "armonik.api.grpc.v1.health_checks.HealthChecksService",
    "armonik.api.grpc.v1.partitions.Partitions",
    "armonik.api.grpc.v1.results.Results",
    "armonik.api.grpc.v1.sessions.Sessions",
    "armonik.api.grpc.v1.submitter.Submitter",
    "armonik.api.grpc.v1.tasks.Tasks",
    "armonik.api.grpc.v1.versions.Versions",
)
#: nginx's writable paths in ArmoniK's image (its nginx.conf), made in the
#: emptyDir that keeps the root filesystem read-only.
_NGINX_DIRS = "/tmp/log/nginx /tmp/run /tmp/nginx"


def name(cluster: str) -> str:
    return f"{cluster}-gui"


def http_port(cluster: model.Cluster) -> int | None:
    """The control plane's HTTP (gRPC-Web) port; ``None``: none (no GUI)."""
    gui = cluster.spec.gui
    return gui.http_port if gui.enabled else None


def control_plane_container_ports(cluster: model.Cluster) -> list[dict[str, Any]]:
    port = http_port(cluster)
    return [] if port is None else [{"name": "http", "containerPort": port}]


def control_plane_service_ports(cluster: model.Cluster) -> list[dict[str, Any]]:
    port = http_port(cluster)
    return [] if port is None else [{"name": "http", "port": port, "targetPort": "http", "appProtocol": "http"}]


def build_gui_children(cluster: model.Cluster) -> list[dict[str, Any]]:
    """The GUI's Service, Deployment and Ingress; none without ``gui.enabled``."""
    gui = cluster.spec.gui
    if not gui.enabled:
        return []
    children = [build_gui_service(cluster), build_gui_deployment(cluster)]
    if gui.ingress.enabled:
        children.append(build_gui_ingress(cluster))
    return children


def build_gui_deployment(cluster: model.Cluster) -> dict[str, Any]:
    spec = cluster.spec
    gui = spec.gui
    labels = common.labels(cluster.name, COMPONENT)
    image, tmp = gui.image.reference, {"name": "tmp", "mountPath": "/tmp"}
    probe = {"httpGet": {"path": HOME, "port": "http"}}
    container = {
        "name": "gui",
        "image": image,
        "imagePullPolicy": gui.image.pull_policy,
        "ports": [{"name": "http", "containerPort": PORT}],
        "resources": common.resources_of(gui.resources),
        "readinessProbe": {**probe, "periodSeconds": 5},
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 6},
        "securityContext": common.container_security(),
        "volumeMounts": [tmp],
    }
    prepare = {
        "name": "nginx-dirs",
        "image": image,
        "imagePullPolicy": gui.image.pull_policy,
        "command": ["sh", "-c", f"mkdir -p {_NGINX_DIRS}"],
        "securityContext": common.container_security(),
        "volumeMounts": [tmp],
    }
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": common.pod_security(UID),
        **common.pull_secrets(spec),
        "initContainers": [prepare],
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": common.metadata(name(cluster.name), cluster.namespace, labels),
        "spec": {
            "replicas": gui.replicas,
            "selector": {"matchLabels": common.selector_labels(cluster.name, COMPONENT)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        },
    }


def build_gui_service(cluster: model.Cluster) -> dict[str, Any]:
    ports = [{"name": "http", "port": 80, "targetPort": "http", "appProtocol": "http"}]
    return common.service(
        name(cluster.name),
        cluster.namespace,
        common.labels(cluster.name, COMPONENT),
        common.selector_labels(cluster.name, COMPONENT),
        ports,
    )


def build_gui_ingress(cluster: model.Cluster) -> dict[str, Any]:
    ingress = cluster.spec.gui.ingress

    def to(service: str, port: str) -> dict[str, Any]:
        return {"service": {"name": service, "port": {"name": port}}}

    api = to(common.control_plane_name(cluster.name), "http")
    paths = [
        *({"path": f"/{service}", "pathType": "Prefix", "backend": api} for service in SERVICES),
        {"path": "/static", "pathType": "Prefix", "backend": api},
        {"path": "/", "pathType": "Prefix", "backend": to(name(cluster.name), "http")},
    ]
    rule: dict[str, Any] = {"http": {"paths": paths}}
    spec: dict[str, Any] = {"rules": [rule]}
    if ingress.host:
        rule["host"] = ingress.host
    if ingress.class_name:
        spec["ingressClassName"] = ingress.class_name
    if ingress.tls_secret_name:
        spec["tls"] = [{"secretName": ingress.tls_secret_name, **({"hosts": [ingress.host]} if ingress.host else {})}]
    built: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": common.metadata(name(cluster.name), cluster.namespace, common.labels(cluster.name, COMPONENT)),
        "spec": spec,
    }
    if ingress.annotations:
        built["metadata"]["annotations"] = dict(ingress.annotations)
    return built
