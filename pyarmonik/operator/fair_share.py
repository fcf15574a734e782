"""``ArmoniKPartition.spec.fairShare``: how a partition shares its agents.

The field's schema (bounds and choices are ``core.fairshare``'s, so the API
server refuses what the grid would) and its reading into the partition's
``FairShare``, which the operator writes to the grid with the partition
(``grid_state.declare``): a change applies to the sessions that join the
partition's queue afterwards (docs/fair-share.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyarmonik.core import fairshare
from pyarmonik.operator import schema as s

FIELD = "fairShare"
#: The API server checks a whole number against a fractional ``minimum`` as
#: if it were whole (0 passes ``minimum: 0.01``): the rule checks it as a double.
WEIGHTS_RULE = f"self.all(k, double(self[k]) >= {fairshare.MIN_WEIGHT})"
WEIGHTS_MESSAGE = f"weights must be from {fairshare.MIN_WEIGHT:g} to {fairshare.MAX_WEIGHT:g}"


def spec_schema() -> s.Schema:
    weight = {"type": "number", "minimum": fairshare.MIN_WEIGHT, "maximum": fairshare.MAX_WEIGHT}
    cap = {"type": "integer", "minimum": 1, "maximum": fairshare.MAX_CAP}
    return s.obj(
        {
            "mode": s.enum(list(fairshare.MODES), "fair", "fair: keys share by weight; fifo: first come, first served"),
            "key": s.enum(
                list(fairshare.KEYS), "session", "what shares: each session, application name, or user (owner)"
            ),
            "weights": _map(weight, f"weight of a key ({fairshare.EVERY_KEY}: every other key; default 1)")
            | {"x-kubernetes-validations": [{"rule": WEIGHTS_RULE, "message": WEIGHTS_MESSAGE}]},
            "caps": _map(cap, f"most running tasks of a key ({fairshare.EVERY_KEY}: every key not named)"),
        },
        "how the partition shares its agents between the sessions of one priority (docs/fair-share.md)",
        default={},
    )


def _map(values: s.Schema, description: str) -> s.Schema:
    """Keys to ``values`` (structural: no ``properties`` beside ``additionalProperties``)."""
    return {"type": "object", "description": description, "additionalProperties": values}


def from_spec(given: Mapping[str, Any]) -> fairshare.FairShare:
    """The configuration of a partition's ``spec.fairShare`` (absent
    fields take the schema's defaults)."""
    where = tuple(f"spec.{FIELD}.{name}" for name in ("mode", "key", "weights", "caps"))
    return fairshare.fair_share(
        mode=given.get("mode", "fair"),
        key=given.get("key", "session"),
        weights=given.get("weights"),
        caps=given.get("caps"),
        where=where,  # type: ignore[arg-type]
    )
