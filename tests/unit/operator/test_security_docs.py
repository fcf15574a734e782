"""docs/kubernetes-security.md stays true: its manifest is a valid cluster
that the CRD's rules accept and that builds valid children, and the
settings and fields it names exist."""

from __future__ import annotations

import re
from typing import Any

import celpy
import jsonschema
import k8s_bodies
import yaml

from pyarmonik import settings
from pyarmonik.operator import crds, schema
from pyarmonik.operator.builders import cluster, object_storage
from tests.k8s import chart

DOC = (k8s_bodies.ROOT / "docs" / "kubernetes-security.md").read_text()


def _manifest() -> dict[str, Any]:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.DOTALL)
    body: dict[str, Any] = yaml.safe_load(block)
    return body


def test_the_manifest_of_the_doc_is_a_cluster_the_crd_and_its_rules_accept() -> None:
    body = _manifest()
    openapi = crds.build_cluster_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jsonschema.validate(body, chart.strict_schema(openapi))
    spec = schema.with_defaults(body["spec"], openapi["properties"]["spec"])
    environment = celpy.Environment()
    for rule in openapi["properties"]["spec"]["x-kubernetes-validations"]:
        program = environment.program(environment.compile(rule["rule"]))
        assert program.evaluate({"self": celpy.json_to_cel(spec)}), rule["message"]


def test_the_manifest_of_the_doc_builds_valid_children() -> None:
    body = _manifest()
    body["metadata"]["namespace"] = k8s_bodies.NAMESPACE
    for child in cluster.build_cluster_children(
        k8s_bodies.parsed_cluster(body), secrets=object_storage.new_minio_credentials()
    ):
        k8s_bodies.validate(child)


def test_the_variables_the_doc_names_are_the_control_planes_settings() -> None:
    named = set(re.findall(r"`(PYARMONIK_\w+)`", DOC))
    known = {name for field in settings.ControlPlaneSettings.model_fields
             for name in settings.env_names(settings.ControlPlaneSettings, field)}  # fmt: skip
    assert named and named <= known
