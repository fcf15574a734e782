"""The CRDs: valid, structural, in sync with the committed files, and the
example resources valid against them (CEL rules included)."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import celpy
import jsonschema
import k8s_bodies
import pytest
import yaml

from pyarmonik.operator import crds, schema

CRDS = [crds.build_cluster_crd(), crds.build_partition_crd()]
COMMITTED = [k8s_bodies.ROOT / "manifests" / "crds", k8s_bodies.ROOT / "charts" / "pyarmonik" / "crds"]


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _nodes(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node with its path."""
    found = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        found += _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _nodes(schema["additionalProperties"], f"{path}.*")
    if "items" in schema:
        found += _nodes(schema["items"], f"{path}[]")
    return found


def _as_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI schema as JSON Schema, stricter than the API server in one
    way: a field the server would prune (unknown) fails, to catch typos."""
    converted = copy.deepcopy(schema)
    for _, node in _nodes(converted):
        if node.pop("nullable", False):
            node["type"] = [node["type"], "null"]
        if node.pop("x-kubernetes-int-or-string", False):
            node["type"] = ["integer", "string"]
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for key in [key for key in node if key.startswith("x-kubernetes-")]:
            del node[key]
    return converted


def _rules(schema: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [(path, rule) for path, node in _nodes(schema) for rule in node.get("x-kubernetes-validations", [])]


def _at(value: Any, path: str) -> Any:
    for name in filter(None, path.split(".")):
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _broken_rules(crd: dict[str, Any], resource: dict[str, Any]) -> list[str]:
    """Messages of the CEL rules ``resource`` breaks, evaluated as the API
    server does, on the object at the rule's place."""
    environment = celpy.Environment()
    broken = []
    for path, rule in _rules(_schema(crd)):
        target = _at(resource, path)
        if target is None:
            continue
        program = environment.program(environment.compile(rule["rule"]))
        if not program.evaluate({"self": celpy.json_to_cel(target)}):
            broken.append(rule["message"])
    return broken


def _defaulted(crd: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    return schema.with_defaults(resource, _schema(crd))


@pytest.mark.parametrize("crd", CRDS, ids=crds.file_name)
def test_the_crds_are_valid_custom_resource_definitions(crd: dict[str, Any]) -> None:
    k8s_bodies.validate(crd)


@pytest.mark.parametrize("directory", COMMITTED, ids=lambda path: str(path.relative_to(k8s_bodies.ROOT)))
def test_the_committed_crd_files_are_the_generated_ones(directory: pathlib.Path, tmp_path: pathlib.Path) -> None:
    assert crds.main([str(tmp_path)]) == 0
    generated = {path.name: path.read_text() for path in tmp_path.iterdir()}
    committed = {path.name: path.read_text() for path in directory.glob("*.yaml")}
    assert committed == generated, "regenerate: python -m pyarmonik.operator.crds " + str(directory)


def test_the_generated_files_end_with_a_newline_and_read_back_as_the_crds(tmp_path: pathlib.Path) -> None:
    for path, crd in zip(crds.write(tmp_path), CRDS):
        assert path.read_text().endswith("\n")
        assert yaml.safe_load(path.read_text()) == crd


@pytest.mark.parametrize("crd", CRDS, ids=crds.file_name)
def test_every_schema_node_is_typed_as_structural_schemas_require(crd: dict[str, Any]) -> None:
    for path, node in _nodes(_schema(crd)):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        assert not ("properties" in node and "additionalProperties" in node), path


@pytest.mark.parametrize("crd", CRDS, ids=crds.file_name)
def test_every_default_is_valid_for_its_own_schema(crd: dict[str, Any]) -> None:
    for path, node in _nodes(_schema(crd)):
        if "default" in node:
            errors = list(jsonschema.Draft7Validator(_as_json_schema(node)).iter_errors(node["default"]))
            assert not errors, (path, errors)


@pytest.mark.parametrize(
    ("example", "crd"),
    [("cluster.yaml", CRDS[0]), ("partition-cpu.yaml", CRDS[1]), ("partition-gpu.yaml", CRDS[1])],
)
def test_the_example_resources_are_valid_for_their_crd(example: str, crd: dict[str, Any]) -> None:
    resource = yaml.safe_load((k8s_bodies.EXAMPLES / example).read_text())
    assert resource["apiVersion"] == crds.API_VERSION
    assert resource["kind"] == crd["spec"]["names"]["kind"]
    jsonschema.validate(resource, _as_json_schema(_schema(crd)))
    jsonschema.validate(_defaulted(crd, resource), _as_json_schema(_schema(crd)))
    assert _broken_rules(crd, _defaulted(crd, resource)) == []


def test_the_fully_specified_resources_are_valid_for_their_crds() -> None:
    for crd, resource in zip(CRDS, [k8s_bodies.full_cluster_body(), k8s_bodies.full_partition_body()]):
        jsonschema.validate(resource, _as_json_schema(_schema(crd)))
        assert _broken_rules(crd, _defaulted(crd, resource)) == []


def test_a_partition_with_pod_max_below_pod_reserved_breaks_the_rule() -> None:
    resource = k8s_bodies.load_example("partition-cpu.yaml")
    resource["spec"].update(podReserved=5, podMax=2)
    assert _broken_rules(CRDS[1], _defaulted(CRDS[1], resource)) == ["podMax must be >= podReserved"]


def test_external_storage_without_its_address_breaks_the_rules() -> None:
    resource = k8s_bodies.load_example("cluster.yaml")
    resource["spec"]["redis"] = {"mode": "external"}
    resource["spec"]["objectStorage"] = {"mode": "external"}
    assert _broken_rules(CRDS[0], _defaulted(CRDS[0], resource)) == [
        "redis.external.url is required when redis.mode is external",
        "objectStorage.external.endpoint is required when objectStorage.mode is external",
    ]


def test_a_cluster_name_too_long_for_its_service_names_breaks_the_rule() -> None:
    resource = k8s_bodies.load_example("cluster.yaml")
    resource["metadata"]["name"] = "g" * (crds.CLUSTER_NAME_MAX + 1)
    assert len(_broken_rules(CRDS[0], _defaulted(CRDS[0], resource))) == 1


def test_a_partition_id_the_agents_would_refuse_is_refused_by_the_schema() -> None:
    resource = k8s_bodies.load_example("partition-cpu.yaml")
    resource["spec"]["partitionId"] = "has space"
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        jsonschema.validate(resource, _as_json_schema(_schema(CRDS[1])))


def test_the_crds_have_the_spec_names_short_names_and_categories() -> None:
    names = [crd["spec"]["names"] for crd in CRDS]
    assert [(n["kind"], n["plural"], n["shortNames"], n["categories"]) for n in names] == [
        ("ArmoniKCluster", "armonikclusters", ["akc"], ["pyarmonik"]),
        ("ArmoniKPartition", "armonikpartitions", ["akp"], ["pyarmonik"]),
    ]
    assert {crd["spec"]["group"] for crd in CRDS} == {"pyarmonik.io"}
    assert {crd["spec"]["scope"] for crd in CRDS} == {"Namespaced"}


def test_the_partition_scales_through_spec_replicas_and_the_status_selector() -> None:
    (version,) = CRDS[1]["spec"]["versions"]
    assert version["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }
    assert CRDS[0]["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_the_printer_columns_are_those_of_the_spec() -> None:
    columns = [[column["name"] for column in crd["spec"]["versions"][0]["additionalPrinterColumns"]] for crd in CRDS]
    assert columns == [
        ["Phase", "Endpoint", "Ready", "Age"],
        ["Cluster", "Partition", "Replicas", "Ready", "Min", "Max", "Age"],
    ]


def test_an_empty_cluster_spec_defaults_to_a_managed_grid() -> None:
    spec = _defaulted(CRDS[0], {"spec": {}})["spec"]
    assert spec["redis"]["mode"] == spec["objectStorage"]["mode"] == "managed"
    assert spec["redis"]["managed"] == {"image": "redis:7.2", "storage": "1Gi", "appendfsync": "everysec"}
    assert spec["controlPlane"]["service"] == {"type": "ClusterIP", "port": 5001, "annotations": {}}
    assert spec["lease"] == {"leaseSeconds": 15, "graceSeconds": 15}
    assert spec["logging"] == {"level": "INFO", "format": "json"}


def _cluster(**spec: Any) -> dict[str, Any]:
    resource = k8s_bodies.load_example("cluster.yaml")
    resource["spec"].update(spec)
    return resource


def _cluster_rules_broken(resource: dict[str, Any]) -> list[str]:
    return _broken_rules(CRDS[0], _defaulted(CRDS[0], resource))


def test_an_empty_cluster_spec_builds_network_policies_and_no_tls_or_auth() -> None:
    spec = _defaulted(CRDS[0], {"spec": {}})["spec"]
    assert spec["networkPolicy"]["enabled"] is True
    assert "ingressFrom" not in spec["networkPolicy"], "absent: every pod of the namespace, [] would be agents only"
    assert spec["networkPolicy"]["monitoringNamespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
    }
    assert "tls" not in spec and "auth" not in spec


def test_auth_needs_mtls_or_trusted_proxy_headers() -> None:
    tls = {"secretName": "grid-tls"}
    assert _cluster_rules_broken(_cluster(tls=tls, auth={"configMapName": "a"})) == [
        "auth needs a way to identify callers: tls.clientAuth (mTLS) or auth.trustedProxyHeaders"
    ]
    assert _cluster_rules_broken(_cluster(tls={**tls, "clientAuth": True}, auth={"configMapName": "a"})) == []


def test_auth_names_one_config_map_or_one_secret() -> None:
    tls = {"secretName": "grid-tls", "clientAuth": True}
    message = "auth needs one of auth.configMapName and auth.secretName"
    assert _cluster_rules_broken(_cluster(tls=tls, auth={})) == [message]
    assert _cluster_rules_broken(_cluster(tls=tls, auth={"configMapName": "a", "secretName": "b"})) == [message]
    assert _cluster_rules_broken(_cluster(tls=tls, auth={"secretName": "b"})) == []


def test_trusted_proxy_headers_need_the_ingress_named_unless_policies_are_off() -> None:
    auth = {"configMapName": "a", "trustedProxyHeaders": True}
    assert _cluster_rules_broken(_cluster(auth=auth)) == [
        "auth.trustedProxyHeaders trusts whoever reaches the API: name the ingress in networkPolicy.ingressFrom"
    ]
    ingress = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    assert _cluster_rules_broken(_cluster(auth=auth, networkPolicy={"ingressFrom": ingress})) == []
    assert _cluster_rules_broken(_cluster(auth=auth, networkPolicy={"enabled": False})) == []


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("redis://:hunter2@redis.example:6379/0", True),
        ("rediss://default:hunter2@redis.example:6380", True),
        ("redis://default@redis.example:6379/0", False),
        ("rediss://redis.example:6380/2", False),
    ],
)
def test_a_password_in_the_external_redis_url_is_refused(url: str, refused: bool) -> None:
    broken = _cluster_rules_broken(_cluster(redis={"mode": "external", "external": {"url": url}}))
    message = (
        "redis.external.url must not hold a password: put it in a Secret named by redis.external.passwordSecretRef"
    )
    assert broken == ([message] if refused else [])


def test_tls_without_its_secret_and_a_misspelt_peer_are_refused_by_the_schema() -> None:
    with pytest.raises(jsonschema.ValidationError, match="secretName"):
        jsonschema.validate(_cluster(tls={"clientAuth": True}), _as_json_schema(_schema(CRDS[0])))
    with pytest.raises(jsonschema.ValidationError, match="podSelectr"):
        typo = _cluster(networkPolicy={"ingressFrom": [{"podSelectr": {}}]})
        jsonschema.validate(typo, _as_json_schema(_schema(CRDS[0])))


@pytest.mark.parametrize(
    ("lease", "broken"),
    [
        ({"leaseSeconds": 3, "heartbeatSeconds": 10}, True),
        ({"leaseSeconds": 3, "heartbeatSeconds": 2}, True),
        ({"leaseSeconds": 15, "heartbeatSeconds": 0}, True),
        ({"leaseSeconds": 3, "heartbeatSeconds": 1.5}, False),
        ({"leaseSeconds": 3}, False),
    ],
)
def test_a_heartbeat_longer_than_half_the_lease_breaks_the_rule(lease: dict[str, float], broken: bool) -> None:
    found = _cluster_rules_broken(_cluster(lease=lease))
    assert found == (["lease.heartbeatSeconds must be above 0 and at most half of lease.leaseSeconds: an agent "
                      "renewing its lease less often lets it expire under a running task, which is then retried"]
                     if broken else [])  # fmt: skip
