"""Schemas of other projects' custom resources (KEDA's ScaledObject, the
Prometheus Operator's ServiceMonitor), as the registry publishes them.

They come from the ``cloudcoil-models-*`` packages of the ``[test]`` extra:
pydantic models generated from each project's released CRD files (KEDA's
``keda-2.16.1-crds.yaml``, the Prometheus Operator's v0.80.1 CRDs), so
nothing of theirs is copied into this repository. The models' JSON Schema is
closed to unknown fields the way the API server's strict field validation
is, so a misspelt field fails here instead of being pruned by the cluster.
A missing package skips the test locally and fails it under ``CI=true``.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

import jsonschema

from tests import servers

#: kind -> (module, model, distribution) of the published models.
MODELS = {
    "ScaledObject": ("cloudcoil.models.keda.v1alpha1", "ScaledObject", "cloudcoil-models-keda"),
    "ServiceMonitor": (
        "cloudcoil.models.prometheus_operator.v1",
        "ServiceMonitor",
        "cloudcoil-models-prometheus-operator",
    ),
}


def schema(kind: str) -> dict[str, Any]:
    module_name, model_name, distribution = MODELS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        servers.skip_or_fail(f"the {kind} schema needs {distribution}: pip install -e '.[test]'")
    published: dict[str, Any] = getattr(module, model_name).model_json_schema(by_alias=True)
    return closed(published)


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    """Every object with named properties refuses other properties."""
    schema = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def errors(obj: dict[str, Any]) -> list[str]:
    """What the published schema of ``obj``'s kind finds wrong with it, one line each."""
    validator = jsonschema.Draft202012Validator(schema(obj["kind"]))
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(obj), key=lambda error: list(map(str, error.absolute_path)))
    ]
