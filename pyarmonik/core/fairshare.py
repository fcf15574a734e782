"""How a partition shares its agents: its fair-share configuration.

Inside a priority level (priorities stay strict), a partition's agents are
shared between *fairness keys* in proportion to their weights, each key
optionally capped to a number of running tasks. The key of a session's
tasks is, by the partition's choice, the session itself (the default), its
application name (its default task options'), or the user who created it
(its ``owner``, with authentication on); child tasks and retries belong to
their session, hence to its key. ``mode="fifo"`` turns sharing off: first
come, first served inside a priority, as before fair share.

The rule itself (stride scheduling by virtual time) is
``pyarmonik.core.fair_queue``'s, the specification of what the Redis
functions do (``storage/redis/lua/lib_queue.lua``). This module is the
configuration: its defaults, its validation (a bad value is refused with
one line naming it) and its text forms (``KEY=VALUE`` settings, a
partition's ``pod_configuration`` entries).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MODES = ("fair", "fifo")
KEYS = ("session", "application", "user")
#: The generic task option of a session's defaults that overrides its
#: weight (the partition's key being the session).
WEIGHT_OPTION = "pyarmonik.io/weight"
#: Weights are relative shares; bounded so that a stride (1 / weight) stays
#: exact enough in the scores of every priority level (``fair_queue``).
MIN_WEIGHT, MAX_WEIGHT = 0.01, 100.0
MAX_CAP = 1_000_000
#: In ``KEY=VALUE`` lists, the key that stands for every key not named.
EVERY_KEY = "*"
#: The entries of a partition's ``pod_configuration`` (ListPartitions,
#: GetPartition) that show its fair share.
POD_CONFIGURATION_PREFIX = "pyarmonik.io/fair-share-"


@dataclass(frozen=True, slots=True)
class FairShare:
    """One partition's fair share. Built through ``fair_share`` (validated)."""

    mode: str = "fair"
    key: str = "session"
    default_weight: float = 1.0
    weights: Mapping[str, float] = field(default_factory=dict)
    default_cap: int | None = None
    caps: Mapping[str, int] = field(default_factory=dict)

    def weight_of(self, key: str) -> float:
        return self.weights.get(key, self.default_weight)

    def cap_of(self, key: str) -> int | None:
        return self.caps.get(key, self.default_cap)

    @property
    def capped(self) -> bool:
        """Whether any key has a cap (only then are running tasks counted)."""
        return self.default_cap is not None or bool(self.caps)

    def describe(self) -> str:
        """One line for logs and the CLI."""
        if self.mode == "fifo":
            return "fifo (first come, first served inside a priority)"
        parts = [f"fair by {self.key}", f"weight {_number(self.default_weight)}"]
        parts += [f"{k}={_number(w)}" for k, w in sorted(self.weights.items())]
        if self.default_cap is not None:
            parts.append(f"cap {self.default_cap}")
        parts += [f"cap {k}={c}" for k, c in sorted(self.caps.items())]
        return ", ".join(parts)

    def pod_configuration(self) -> dict[str, str]:
        """The entries ListPartitions and GetPartition show in a partition's
        ``pod_configuration`` (ArmoniK's map of strings)."""
        entries = {"mode": self.mode, "key": self.key, "default-weight": _number(self.default_weight)}
        if self.weights:
            entries["weights"] = json.dumps(dict(sorted(self.weights.items())), separators=(",", ":"))
        if self.default_cap is not None:
            entries["default-cap"] = str(self.default_cap)
        if self.caps:
            entries["caps"] = json.dumps(dict(sorted(self.caps.items())), separators=(",", ":"))
        return {POD_CONFIGURATION_PREFIX + name: value for name, value in entries.items()}


DEFAULT = FairShare()


@dataclass(frozen=True, slots=True)
class KeyLoad:
    """The tasks of one fairness key of a partition, for metrics: queued
    (waiting in its entries, at every priority), running (held by agents),
    and whether it waits at its cap."""

    key: str
    queued: int
    running: int
    capped: bool = False


def fair_share(
    *,
    mode: str = "fair",
    key: str = "session",
    weights: Mapping[str, object] | None = None,
    caps: Mapping[str, object] | None = None,
    where: tuple[str, str, str, str] = ("mode", "key", "weight", "cap"),
) -> FairShare:
    """A validated configuration; ``weights`` and ``caps`` map keys (``*``:
    every other key) to numbers. Raises ``ValueError`` naming the bad value
    by ``where``: the names of the mode, the key, the weights and the caps
    (the settings' flags, the resource's fields)."""
    if mode not in MODES:
        raise ValueError(f"{where[0]} must be one of {', '.join(MODES)}, got {mode!r}")
    if key not in KEYS:
        raise ValueError(f"{where[1]} must be one of {', '.join(KEYS)}, got {key!r}")
    named_weights = {str(k): weight(v, what=f"{where[2]} {k}") for k, v in (weights or {}).items()}
    named_caps = {str(k): cap(v, what=f"{where[3]} {k}") for k, v in (caps or {}).items()}
    return FairShare(
        mode=mode,
        key=key,
        default_weight=named_weights.pop(EVERY_KEY, 1.0),
        weights=named_weights,
        default_cap=named_caps.pop(EVERY_KEY, None),
        caps=named_caps,
    )


def weight(value: object, *, what: str = "weight") -> float:
    """A weight: a number from MIN_WEIGHT to MAX_WEIGHT (text accepted)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or not MIN_WEIGHT <= number <= MAX_WEIGHT:
        raise ValueError(f"{what} must be from {_number(MIN_WEIGHT)} to {_number(MAX_WEIGHT)}, got {value!r}")
    return number


def cap(value: object, *, what: str = "cap") -> int:
    """A cap: a whole number of running tasks, at least 1."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_CAP:
        raise ValueError(f"{what} must be a whole number from 1 to {MAX_CAP}, got {value!r}")
    return int(text)


def pairs(items: Iterable[str], *, what: str) -> dict[str, str]:
    """``KEY=VALUE`` texts as a mapping (the last ``=`` splits: a key may
    hold one); ``what`` names the setting in the error."""
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.rpartition("=")
        if not sep or not key:
            raise ValueError(f"{what}: expected KEY=VALUE ({EVERY_KEY}=VALUE for every key), got {item!r}")
        found[key] = value
    return found


def session_weight(options: Mapping[str, str]) -> float | None:
    """The weight a session's default options ask for (``WEIGHT_OPTION``),
    ``None`` when they name none; ``ValueError`` when it is not a weight."""
    if WEIGHT_OPTION not in options:
        return None
    return weight(options[WEIGHT_OPTION], what=f"task option {WEIGHT_OPTION}")


def _number(value: float) -> str:
    """A weight as a person writes it: 2, 0.5."""
    return f"{value:g}"
