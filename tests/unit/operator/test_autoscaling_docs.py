"""docs/autoscaling.md stays true: its manifests are valid partitions and its
table names every autoscaling field of the CRD with its default."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import k8s_bodies
import pytest
import yaml

from pyarmonik.operator import autoscaler, crds, specs
from pyarmonik.operator.builders import partition
from tests.k8s import chart

DOC = (k8s_bodies.ROOT / "docs" / "autoscaling.md").read_text()


def manifests() -> list[dict[str, Any]]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.DOTALL)
    return [body for body in map(yaml.safe_load, blocks) if body.get("kind") == "ArmoniKPartition"]


def test_the_doc_shows_a_cpu_and_a_gpu_partition() -> None:
    assert [body["metadata"]["name"] for body in manifests()] == ["cpu", "gpu"]


@pytest.mark.parametrize("body", manifests(), ids=lambda body: body["metadata"]["name"])
def test_each_manifest_of_the_doc_is_a_valid_autoscaled_partition(body: dict[str, Any]) -> None:
    (version,) = crds.build_partition_crd()["spec"]["versions"]
    jsonschema.validate(body, chart.strict_schema(version["schema"]["openAPIV3Schema"]))
    body["metadata"]["namespace"] = k8s_bodies.NAMESPACE
    policy = autoscaler.policy_of(k8s_bodies.parsed_partition(body).spec)
    assert policy.max_replicas >= policy.min_replicas
    cluster = k8s_bodies.load_example("cluster.yaml")
    k8s_bodies.validate(
        partition.build_partition_deployment(k8s_bodies.parsed_partition(body), k8s_bodies.parsed_cluster(cluster))
    )


def test_the_gpu_manifest_of_the_doc_lands_on_gpu_nodes() -> None:
    gpu = next(body for body in manifests() if body["metadata"]["name"] == "gpu")
    placement = partition.placement(k8s_bodies.parsed_partition(gpu))
    assert placement["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert partition.GPU_TOLERATION in placement["tolerations"]


def test_the_table_names_every_autoscaling_field_with_its_default() -> None:
    schema = specs.partition_spec_schema()["properties"]["autoscaling"]["properties"]
    fields = {f"autoscaling.{name}": sub for name, sub in schema.items() if name != "keda"}
    fields |= {f"autoscaling.keda.{name}": sub for name, sub in schema["keda"]["properties"].items()}
    rows = dict(re.findall(r"^\| `(autoscaling\.[\w.]+)` \| ([^|]+) \|", DOC, flags=re.MULTILINE))
    assert set(rows) == set(fields)
    for name, sub in fields.items():
        if "default" in sub:
            shown = rows[name].strip().strip("`")
            assert shown == (sub["default"] if isinstance(sub["default"], str) else json.dumps(sub["default"])), name
