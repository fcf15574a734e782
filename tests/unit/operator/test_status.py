"""The status a reconcile writes, and the Warning Events it announces: one per transition."""

from __future__ import annotations

from typing import Any

from pyarmonik.operator import conditions

AT = "2025-01-01T00:00:00Z"
LATER = "2025-01-01T00:05:00Z"


def body(status: dict[str, Any] | None = None, generation: int = 2) -> dict[str, Any]:
    return {"metadata": {"name": "p", "generation": generation}, "status": status or {}}


def checks(declared: bool) -> list[conditions.Check]:
    return [
        conditions.Check("PodsReady", True, "Ready", "Partition p ready: 1/1 pods"),
        conditions.Check("Declared", declared, "Declared" if declared else "GridUnreachable", "..."),
    ]


def test_a_check_that_turns_false_is_announced_once_and_ready_not_at_all() -> None:
    first = conditions.status_of(body(), checks(declared=False), at=AT)
    assert [check.type for check in first.turned_false] == ["Declared"]
    assert first.fields["phase"] == "Progressing" and first.fields["observedGeneration"] == 2
    ready = {c["type"]: c for c in first.fields["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "GridUnreachable")
    again = conditions.status_of(body(first.fields), checks(declared=False), at=LATER)
    assert again.turned_false == []
    assert again.fields["conditions"] == first.fields["conditions"]  # no transition, no new time


def test_a_check_that_recovers_and_fails_again_is_announced_again() -> None:
    failed = conditions.status_of(body(), checks(declared=False), at=AT)
    recovered = conditions.status_of(body(failed.fields), checks(declared=True), at=LATER)
    assert recovered.turned_false == [] and recovered.fields["phase"] == "Ready"
    assert {c["type"]: c["lastTransitionTime"] for c in recovered.fields["conditions"]}["Declared"] == LATER
    failed_again = conditions.status_of(body(recovered.fields), checks(declared=False), at=LATER)
    assert [check.type for check in failed_again.turned_false] == ["Declared"]


def test_extra_fields_and_a_phase_given_win() -> None:
    status = conditions.status_of(body(), checks(declared=True), phase="Pending", extra={"replicas": 3}, at=AT)
    assert (status.fields["phase"], status.fields["replicas"]) == ("Pending", 3)
