"""with_defaults: the API server's defaulting, so builders see one spec
whether or not the server defaulted it."""

from __future__ import annotations

import copy
from typing import Any

import k8s_bodies

from pyarmonik.operator import crds, schema, specs
from pyarmonik.operator.builders import cluster, partition

SCHEMA = schema.obj(
    {
        "outer": schema.obj(
            {
                "inner": schema.integer(default=3),
                "free": schema.string(nullable=True),
                "items": schema.array(schema.obj({"flag": schema.boolean(default=False)})),
            },
            default={},
        ),
        "plain": schema.obj({"value": schema.integer(default=1)}),
        "names": schema.string(default="x"),
    }
)


def test_a_missing_object_with_a_default_takes_the_defaults_of_its_fields() -> None:
    assert schema.with_defaults({}, SCHEMA) == {"outer": {"inner": 3}, "names": "x"}


def test_an_object_without_a_default_is_not_made_up() -> None:
    assert "plain" not in schema.with_defaults({}, SCHEMA)
    assert schema.with_defaults({"plain": {}}, SCHEMA)["plain"] == {"value": 1}


def test_given_values_win_over_defaults() -> None:
    assert schema.with_defaults({"outer": {"inner": 0}, "names": ""}, SCHEMA) == {"outer": {"inner": 0}, "names": ""}


def test_array_items_are_defaulted() -> None:
    defaulted = schema.with_defaults({"outer": {"items": [{}, {"flag": True}]}}, SCHEMA)
    assert defaulted["outer"]["items"] == [{"flag": False}, {"flag": True}]


def test_a_null_counts_as_missing_unless_the_field_is_nullable() -> None:
    defaulted = schema.with_defaults({"outer": {"inner": None, "free": None}, "names": None}, SCHEMA)
    assert defaulted == {"outer": {"inner": 3, "free": None}, "names": "x"}


def test_defaulting_leaves_its_input_alone_and_is_idempotent() -> None:
    spec: dict[str, Any] = {"outer": {}}
    once = schema.with_defaults(spec, SCHEMA)
    assert spec == {"outer": {}}
    assert schema.with_defaults(once, SCHEMA) == once


def test_builders_build_the_same_children_from_a_spec_the_server_defaulted(
    cluster_body: dict[str, Any], cpu_partition_body: dict[str, Any], credentials: dict[str, str]
) -> None:
    defaulted_cluster = copy.deepcopy(cluster_body)
    defaulted_cluster["spec"] = schema.with_defaults(cluster_body["spec"], specs.cluster_spec_schema())
    defaulted_partition = copy.deepcopy(cpu_partition_body)
    defaulted_partition["spec"] = schema.with_defaults(cpu_partition_body["spec"], specs.partition_spec_schema())
    assert cluster.build_cluster_children(
        k8s_bodies.parsed_cluster(defaulted_cluster), secrets=credentials
    ) == cluster.build_cluster_children(k8s_bodies.parsed_cluster(cluster_body), secrets=credentials)
    assert partition.build_partition_children(
        k8s_bodies.parsed_partition(defaulted_partition), k8s_bodies.parsed_cluster(defaulted_cluster)
    ) == (
        partition.build_partition_children(
            k8s_bodies.parsed_partition(cpu_partition_body), k8s_bodies.parsed_cluster(cluster_body)
        )
    )


def test_a_cluster_without_a_spec_builds_a_managed_grid(credentials: dict[str, str]) -> None:
    body = {"apiVersion": crds.API_VERSION, "kind": crds.CLUSTER_KIND, "metadata": {"name": "bare", "namespace": "x"}}
    names = [
        child["metadata"]["name"]
        for child in cluster.build_cluster_children(k8s_bodies.parsed_cluster(body), secrets=credentials)
    ]
    assert {"bare-redis", "bare-minio", "bare-minio-credentials", "bare-control-plane"} <= set(names)
