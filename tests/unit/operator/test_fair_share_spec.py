"""``ArmoniKPartition.spec.fairShare``: the CRD refuses what the grid would,
and the partition record the operator writes carries it (defaults: fair by
session, equal weights, no caps)."""

from __future__ import annotations

from typing import Any

import celpy
import jsonschema
import k8s_bodies
import pytest

from pyarmonik.core import fairshare
from pyarmonik.operator import crds, fair_share
from pyarmonik.operator.builders import partition


def fair_share_of(body: dict[str, Any]) -> fairshare.FairShare:
    return partition.partition_record(k8s_bodies.parsed_partition(body)).fair_share


SCHEMA = crds.build_partition_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
FAIR_SHARE = SCHEMA["properties"]["fairShare"]


def test_a_partition_without_fair_share_gets_the_default(cpu_partition_body: dict[str, Any]) -> None:
    assert fair_share_of(cpu_partition_body) == fairshare.DEFAULT


def test_the_partition_record_carries_its_fair_share(cpu_partition_body: dict[str, Any]) -> None:
    cpu_partition_body["spec"]["fairShare"] = {
        "key": "user", "weights": {"alice": 2, "*": 0.5}, "caps": {"*": 8, "bob": 2},
    }  # fmt: skip
    assert fair_share_of(cpu_partition_body) == fairshare.FairShare(
        key="user", default_weight=0.5, weights={"alice": 2.0}, default_cap=8, caps={"bob": 2}
    )
    cpu_partition_body["spec"]["fairShare"] = {"mode": "fifo"}
    assert fair_share_of(cpu_partition_body) == fairshare.FairShare(mode="fifo")


@pytest.mark.parametrize(
    "given",
    [
        {"mode": "random"},
        {"key": "team"},
        {"weights": {"alice": 0}},
        {"weights": {"alice": 101}},
        {"weights": {"alice": "heavy"}},
        {"caps": {"bob": 0}},
        {"caps": {"bob": 1.5}},
    ],
)
def test_the_schema_refuses_what_the_grid_would(given: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(given, FAIR_SHARE)
    with pytest.raises(ValueError, match=r"^spec\.fairShare\."):
        fair_share.from_spec(given)


@pytest.mark.parametrize(("weights", "valid"), [({"alice": 0}, False), ({"alice": 0.5, "b": 2}, True), ({}, True)])
def test_the_weights_rule_checks_a_whole_number_as_a_double(weights: dict[str, Any], valid: bool) -> None:
    # The API server's bounds let a whole 0 through ``minimum: 0.01`` (tests/k8s/test_fair_share.py).
    environment = celpy.Environment()
    program = environment.program(environment.compile(fair_share.WEIGHTS_RULE))
    assert bool(program.evaluate({"self": celpy.json_to_cel(weights)})) is valid
