"""The typed specs the operator reads: the same fields as the CRD schemas,
defaults left to the schemas, and what only the operator can default."""

from __future__ import annotations

import types
import typing
from typing import Any

import k8s_bodies
import pytest

from pyarmonik.operator import model, specs

#: Fields the schema cannot default and the parse does (the operator's image, the resource's name).
FILLED_BY_THE_PARSE = {("image", "repository"), ("image", "tag"), ("partitionId",)}


def _nested_model(annotation: Any) -> type[model.SpecModel] | None:
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    found = [c for c in candidates if isinstance(c, type) and issubclass(c, model.SpecModel)]
    return found[0] if found else None


def _mismatches(schema: dict[str, Any], spec_model: type[model.SpecModel], path: tuple[str, ...] = ()) -> list[str]:
    problems = []
    by_alias = {field.alias: (name, field) for name, field in spec_model.model_fields.items()}
    properties = schema.get("properties", {})
    for extra in sorted(set(by_alias) - set(properties)):
        problems.append(f"{'.'.join((*path, extra))}: in {spec_model.__name__}, not in the schema")
    for alias, sub in properties.items():
        where = (*path, alias)
        if alias not in by_alias:
            problems.append(f"{'.'.join(where)}: in the schema, not in {spec_model.__name__}")
            continue
        _, field = by_alias[alias]
        always = "default" in sub or alias in schema.get("required", []) or where in FILLED_BY_THE_PARSE
        if always and not field.is_required():
            problems.append(f"{'.'.join(where)}: always there (defaulted or required), yet defaulted in the model")
        if not always and field.is_required():
            problems.append(f"{'.'.join(where)}: optional in the schema, required in the model")
        nested = _nested_model(field.annotation)
        if nested is not None:
            problems += _mismatches(sub, nested, where)
    return problems


@pytest.mark.parametrize(
    ("schema", "spec_model"),
    [(specs.cluster_spec_schema(), model.ClusterSpec), (specs.partition_spec_schema(), model.PartitionSpec)],
    ids=["cluster", "partition"],
)
def test_the_models_name_the_fields_of_the_crd_schemas_and_leave_their_defaults_to_them(
    schema: dict[str, Any], spec_model: type[model.SpecModel]
) -> None:
    assert _mismatches(schema, spec_model) == []


def test_a_cluster_that_names_no_image_runs_the_operators(cluster_body: dict[str, Any]) -> None:
    defaults = model.ImageDefaults(repository="registry.example/me/pyarmonik", tag="1.2.3")
    assert (
        model.parse_cluster(cluster_body, image=defaults).spec.image.reference == "registry.example/me/pyarmonik:1.2.3"
    )
    cluster_body["spec"]["image"] = {"tag": "0.9.0"}
    assert (
        model.parse_cluster(cluster_body, image=defaults).spec.image.reference == "registry.example/me/pyarmonik:0.9.0"
    )
    assert model.parse_cluster(cluster_body).spec.image.reference == "pyarmonik:0.9.0"


def test_a_digest_tag_is_referenced_with_an_at_sign(cluster_body: dict[str, Any]) -> None:
    cluster_body["spec"]["image"] = {"repository": "r/p", "tag": "sha256:" + "a" * 64}
    assert model.parse_cluster(cluster_body).spec.image.reference == "r/p@sha256:" + "a" * 64


def test_a_partition_id_defaults_to_the_resource_name_and_replicas_to_pod_reserved(
    cpu_partition_body: dict[str, Any],
) -> None:
    part = k8s_bodies.parsed_partition(cpu_partition_body)
    assert (part.partition_id, part.spec.desired_replicas) == ("default", 1)
    assert part.owner == {
        "apiVersion": "pyarmonik.io/v1alpha1",
        "kind": "ArmoniKPartition",
        "metadata": {"name": "default", "namespace": k8s_bodies.NAMESPACE, "uid": "", "labels": {}},
    }


def test_a_spec_the_api_server_would_refuse_is_named_in_one_line(cpu_partition_body: dict[str, Any]) -> None:
    cpu_partition_body["spec"]["podMax"] = "many"
    with pytest.raises(model.InvalidSpec, match=r"^ArmoniKPartition default: spec\.podMax: .*integer"):
        model.parse_partition(cpu_partition_body)


def test_the_parse_leaves_the_body_as_it_was(cluster_body: dict[str, Any]) -> None:
    before = repr(cluster_body)
    model.parse_cluster(cluster_body)
    assert repr(cluster_body) == before
