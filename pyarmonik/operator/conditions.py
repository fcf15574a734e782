"""Status of the grid's custom resources: standard conditions and a phase.

Pure functions of what the operator observed, so that every message a user
reads in ``kubectl describe`` is tested without a cluster. A condition keeps
its ``lastTransitionTime`` while its status does not change (Kubernetes'
convention), so watching clients see transitions, not every reconcile.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """One observed fact: ``type`` is ok or not, with a reason and one line."""

    type: str
    ok: bool
    reason: str
    message: str


def now_text() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def conditions(
    checks: list[Check], *, previous: list[dict[str, Any]], generation: int, at: str
) -> list[dict[str, Any]]:
    before = {c.get("type"): c for c in previous or []}
    built = []
    for check in checks:
        status = "True" if check.ok else "False"
        old = before.get(check.type)
        since = old["lastTransitionTime"] if old and old.get("status") == status else at
        built.append(
            {
                "type": check.type,
                "status": status,
                "reason": check.reason,
                "message": check.message,
                "lastTransitionTime": since,
                "observedGeneration": generation,
            }
        )
    return built


def replicas_check(kind: str, what: str, obj: dict[str, Any] | None, *, condition: str) -> Check:
    """``what`` is ready when every wanted replica of its Deployment or
    StatefulSet is ready: "Redis not ready: 0/1 pods"."""
    if obj is None:
        return Check(condition, False, "Missing", f"{what} not ready: its {kind} does not exist yet")
    wanted = (obj.get("spec") or {}).get("replicas", 1)
    ready = (obj.get("status") or {}).get("readyReplicas") or 0
    if ready >= wanted:
        return Check(condition, True, "Ready", f"{what} ready: {ready}/{wanted} pods")
    return Check(condition, False, "PodsNotReady", f"{what} not ready: {ready}/{wanted} pods")


def external_check(condition: str, what: str, address: str) -> Check:
    return Check(condition, True, "External", f"{what} is external: {address}")


def overall(checks: list[Check]) -> tuple[Check, str]:
    """The ``Ready`` condition and the phase, from the other checks."""
    failing = [c for c in checks if not c.ok]
    if not failing:
        return Check("Ready", True, "AllReady", "every component is ready"), "Ready"
    first = failing[0]
    return Check("Ready", False, first.reason, first.message), "Progressing"


@dataclass(frozen=True)
class Status:
    """What a reconcile writes: the ``status`` of the resource, and the checks
    that just turned False (each announced once, as a Warning Event)."""

    fields: dict[str, Any]
    turned_false: list[Check]


def status_of(
    body: dict[str, Any],
    checks: list[Check],
    *,
    phase: str | None = None,
    extra: dict[str, Any] | None = None,
    at: str | None = None,
) -> Status:
    """Conditions (with ``Ready`` from the others), phase and
    observedGeneration; a check that was not already False is announced
    (``Ready`` never is: it turns False only with one that is announced)."""
    ready, ready_phase = overall(checks)
    status = body.get("status") or {}
    before = status.get("conditions") or []
    previous = {c.get("type"): c.get("status") for c in before}
    generation = body["metadata"].get("generation", 0)
    fields = {
        "conditions": conditions([*checks, ready], previous=before, generation=generation, at=at or now_text()),
        "phase": phase or ready_phase,
        "observedGeneration": generation,
        **(extra or {}),
    }
    turned_false = [check for check in checks if not check.ok and previous.get(check.type) != "False"]
    return Status(fields, turned_false)
