"""spec.gui: ArmoniK's Admin GUI beside the control plane, one Ingress in
front of both, the NetworkPolicies and the API's authentication kept."""

from __future__ import annotations

import copy
from typing import Any

import k8s_bodies
import pytest

from pyarmonik.control_plane import api
from pyarmonik.operator.builders import cluster, control_plane, gui, network, object_storage


def with_gui(body: dict[str, Any], **gui_spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["spec"]["gui"] = {"enabled": True, **gui_spec}
    return body


def children(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    built = cluster.build_cluster_children(
        k8s_bodies.parsed_cluster(body), secrets=object_storage.new_minio_credentials()
    )
    return {(child["kind"], child["metadata"]["name"]): child for child in built}


def test_without_gui_the_control_plane_opens_no_http_port(cluster_body: dict[str, Any]) -> None:
    built = children(cluster_body)
    plane = built[("Deployment", "grid-control-plane")]["spec"]["template"]["spec"]["containers"][0]

    assert not [kind for kind, name in built if name == "grid-gui"]
    assert k8s_bodies.env_of(plane)["PYARMONIK_HTTP_PORT"] == "off"
    assert "http" not in {port["name"] for port in built[("Service", "grid-control-plane")]["spec"]["ports"]}


def test_the_gui_runs_armoniks_image_behind_its_service(cluster_body: dict[str, Any]) -> None:
    built = children(with_gui(cluster_body))
    pod = built[("Deployment", "grid-gui")]["spec"]["template"]["spec"]
    [container] = pod["containers"]

    assert container["image"] == "dockerhubaneo/armonik_admin_app:0.15.0"
    assert container["ports"] == [{"name": "http", "containerPort": gui.PORT}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/admin/en/", "port": "http"}
    assert built[("Service", "grid-gui")]["spec"]["ports"][0]["targetPort"] == "http"
    for child in built.values():
        k8s_bodies.validate(child)


def test_with_the_gui_the_control_plane_serves_grpc_web_on_its_http_port(cluster_body: dict[str, Any]) -> None:
    built = children(with_gui(cluster_body, httpPort=5080))
    plane = built[("Deployment", "grid-control-plane")]["spec"]["template"]["spec"]["containers"][0]
    service_ports = {port["name"]: port for port in built[("Service", "grid-control-plane")]["spec"]["ports"]}

    assert k8s_bodies.env_of(plane)["PYARMONIK_HTTP_PORT"] == "5080"
    assert {"name": "http", "containerPort": 5080} in plane["ports"]
    assert service_ports["http"]["port"] == 5080 and service_ports["http"]["targetPort"] == "http"


def test_one_ingress_routes_the_armonik_services_and_static_to_grpc_web_and_the_rest_to_the_gui(
    cluster_body: dict[str, Any],
) -> None:
    ingress = children(with_gui(cluster_body))[("Ingress", "grid-gui")]
    [rule] = ingress["spec"]["rules"]
    routes = {path["path"]: path["backend"]["service"] for path in rule["http"]["paths"]}

    to_api = {"name": "grid-control-plane", "port": {"name": "http"}}
    assert {f"/{name}" for name in api.service_names()} | {"/static"} == {p for p, b in routes.items() if b == to_api}
    assert routes["/"] == {"name": "grid-gui", "port": {"name": "http"}}
    assert all(path["pathType"] == "Prefix" for path in rule["http"]["paths"])


def test_the_routed_services_are_the_apis() -> None:
    assert sorted(gui.SERVICES) == sorted(api.service_names())


def test_the_ingress_takes_its_class_host_certificate_and_annotations(cluster_body: dict[str, Any]) -> None:
    ingress_spec = {
        "className": "nginx",
        "host": "grid.example.com",
        "tlsSecretName": "grid-tls",
        "annotations": {"nginx.ingress.kubernetes.io/backend-protocol": "HTTPS"},
    }
    ingress = children(with_gui(cluster_body, ingress=ingress_spec))[("Ingress", "grid-gui")]

    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "grid.example.com"
    assert ingress["spec"]["tls"] == [{"secretName": "grid-tls", "hosts": ["grid.example.com"]}]
    assert ingress["metadata"]["annotations"] == ingress_spec["annotations"]
    k8s_bodies.validate(ingress)


def test_without_its_ingress_the_gui_is_left_to_route(cluster_body: dict[str, Any]) -> None:
    built = children(with_gui(cluster_body, ingress={"enabled": False}))

    assert ("Deployment", "grid-gui") in built and ("Ingress", "grid-gui") not in built


def test_the_gui_pod_keeps_a_read_only_root_as_a_non_root_user(full_cluster_body: dict[str, Any]) -> None:
    built = children(with_gui(full_cluster_body))
    pod = built[("Deployment", "big-gui")]["spec"]["template"]["spec"]

    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == gui.UID
    assert pod["automountServiceAccountToken"] is False
    for container in [*pod["initContainers"], *pod["containers"]]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # nginx's writable paths
    assert pod["imagePullSecrets"] == [{"name": "registry"}]
    for child in built.values():
        k8s_bodies.validate(child)


def _ports_from(policy: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    return {port["port"]: rule["from"] for rule in policy["spec"]["ingress"] for port in rule["ports"]}


@pytest.mark.parametrize("trusted_headers", [False, True])
def test_the_grpc_web_port_and_the_gui_admit_the_apis_peers_only(
    full_cluster_body: dict[str, Any], trusted_headers: bool
) -> None:
    body = with_gui(full_cluster_body)
    body["spec"].setdefault("auth", {})["trustedProxyHeaders"] = trusted_headers
    plane_policy = network.build_control_plane_policy(k8s_bodies.parsed_cluster(body))
    gui_policy = network.build_gui_policy(k8s_bodies.parsed_cluster(body))
    api_port = body["spec"]["controlPlane"]["port"]

    from_api = _ports_from(plane_policy)[api_port]
    assert _ports_from(plane_policy)[gui.http_port(k8s_bodies.parsed_cluster(body))] == from_api  # type: ignore[index]
    assert _ports_from(gui_policy) == {gui.PORT: from_api}
    assert gui_policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and gui_policy["spec"]["egress"] == [network.DNS]
    if trusted_headers:  # whoever reaches the port may forge the identity headers: the Ingress alone
        assert from_api == body["spec"]["networkPolicy"]["ingressFrom"]
    assert ("NetworkPolicy", "big-gui") in children(body)


def test_the_gui_keeps_the_apis_authentication(full_cluster_body: dict[str, Any]) -> None:
    body = with_gui(full_cluster_body)
    deployment = control_plane.build_control_plane_deployment(k8s_bodies.parsed_cluster(body))
    plane = deployment["spec"]["template"]["spec"]["containers"][0]
    variables = k8s_bodies.env_of(plane)

    assert "PYARMONIK_AUTH_CONFIG_FILE" in variables  # gRPC-Web calls go through the same interceptors
    assert variables["PYARMONIK_HTTP_PORT"] == str(gui.http_port(k8s_bodies.parsed_cluster(body)))
