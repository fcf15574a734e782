"""OpenAPI v3 fragments of the CRDs, and the defaulting the API server does.

The CRD schemas must be *structural* (every node typed, no ``properties``
beside ``additionalProperties``), so the fragments below are the only way
the two CRDs spell a type. :func:`with_defaults` applies a schema's defaults
the way the API server does, so that the builders see the same spec whether
or not the server defaulted it (a body from an older CRD version, a test, a
dry run): one defaulting rule, the schema's.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

Schema = dict[str, Any]
Rule = tuple[str, str]


def string(description: str = "", **extra: Any) -> Schema:
    return _described({"type": "string", **extra}, description)


def integer(description: str = "", **extra: Any) -> Schema:
    return _described({"type": "integer", **extra}, description)


def number(description: str = "", **extra: Any) -> Schema:
    return _described({"type": "number", **extra}, description)


def boolean(description: str = "", **extra: Any) -> Schema:
    return _described({"type": "boolean", **extra}, description)


def enum(values: list[str], default: str | None = None, description: str = "") -> Schema:
    extra: Schema = {"enum": values} if default is None else {"enum": values, "default": default}
    return string(description, **extra)


def array(items: Schema, description: str = "", **extra: Any) -> Schema:
    return _described({"type": "array", "items": items, **extra}, description)


def obj(properties: dict[str, Schema], description: str = "", *, rules: Sequence[Rule] = (), **extra: Any) -> Schema:
    """An object; ``default={}`` on it lets the defaults of its fields apply
    when the user leaves the whole object out. ``rules`` are CEL
    validations, ``(rule, message)``."""
    if rules:
        extra["x-kubernetes-validations"] = [{"rule": rule, "message": message} for rule, message in rules]
    return _described({"type": "object", "properties": properties, **extra}, description)


def string_map(description: str = "", **extra: Any) -> Schema:
    return _described({"type": "object", "additionalProperties": {"type": "string"}, **extra}, description)


def opaque(description: str) -> Schema:
    """A Kubernetes type passed through to the pods as is (affinity, valueFrom),
    validated by the API server when the child object is applied."""
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "description": description}


def quantity(description: str = "", **extra: Any) -> Schema:
    return _described({"x-kubernetes-int-or-string": True, **extra}, description)


def resources(description: str = "compute resources (requests and limits), as in a container") -> Schema:
    amounts = {"type": "object", "additionalProperties": quantity()}
    return obj({"requests": amounts, "limits": amounts}, description)


def env_vars(description: str) -> Schema:
    item = obj(
        {"name": string(), "value": string(), "valueFrom": opaque("a container EnvVarSource")},
        required=["name"],
    )
    return array(item, description, **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]})


def tolerations() -> Schema:
    item = obj(
        {
            "key": string(),
            "operator": enum(["Exists", "Equal"]),
            "value": string(),
            "effect": enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
            "tolerationSeconds": integer(format="int64"),
        }
    )
    return array(item, "pod tolerations")


def label_selector(description: str = "", **extra: Any) -> Schema:
    """A Kubernetes LabelSelector; ``{}`` selects everything."""
    expression = obj(
        {
            "key": string(),
            "operator": enum(["In", "NotIn", "Exists", "DoesNotExist"]),
            "values": array(string()),
        },
        required=["key", "operator"],
    )
    return obj({"matchLabels": string_map(), "matchExpressions": array(expression)}, description, **extra)


def network_policy_peer() -> Schema:
    """A NetworkPolicyPeer, typed so that a misspelt selector is refused when
    the resource is applied rather than when its NetworkPolicy is."""
    block = obj({"cidr": string(), "except": array(string())}, required=["cidr"])
    return obj(
        {"podSelector": label_selector(), "namespaceSelector": label_selector(), "ipBlock": block},
        "pods (podSelector, in this namespace unless namespaceSelector says which), namespaces, or addresses",
    )


def conditions(types: list[str]) -> Schema:
    item = obj(
        {
            "type": enum(types),
            "status": enum(["True", "False", "Unknown"]),
            "reason": string(),
            "message": string(),
            "lastTransitionTime": string(format="date-time"),
            "observedGeneration": integer(format="int64"),
        },
        required=["type", "status"],
    )
    return array(item, "", **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})


def with_defaults(spec: Any, schema: Schema) -> Any:
    """``spec`` (not modified) with the defaults of ``schema`` applied as the
    API server applies them: a missing field takes its default, then the
    fields of objects (defaulted ones included) are defaulted in turn; a null
    in a field that is not nullable counts as missing."""
    return _default(copy.deepcopy(spec), schema)


def _default(value: Any, schema: Schema) -> Any:
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if value.get(name) is None and not (name in value and sub.get("nullable")):
                value.pop(name, None)
                if "default" in sub:
                    value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = _default(value[name], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name in value:
                value[name] = _default(value[name], extra)
    elif isinstance(value, list) and "items" in schema:
        return [_default(item, schema["items"]) for item in value]
    return value


def _described(schema: Schema, description: str) -> Schema:
    """The description right after the type, where a reader of the YAML (or
    of ``kubectl explain``) looks for it, before a long ``properties``."""
    if not description:
        return schema
    head = {"type": schema["type"]} if "type" in schema else {}
    return {**head, "description": description, **schema}
