"""What an agent is told when a task it ran is no longer its own."""

from __future__ import annotations

from pyarmonik.core import errors
from pyarmonik.storage.redis.library import error


def test_a_task_taken_over_by_another_agent_names_both() -> None:
    refused = error(["NOT_HELD", "t1", "PROCESSING", "agent-b", "agent-a"])
    assert isinstance(refused, errors.NotHeld)
    assert refused.message == "task t1 is PROCESSING and held by agent-b, not by agent agent-a"


def test_a_task_lost_by_its_own_agent_says_its_lease_expired_rather_than_naming_the_agent_twice() -> None:
    refused = error(["NOT_HELD", "t1", "RETRIED", "agent-a", "agent-a"])
    assert refused.message == "task t1 is RETRIED: agent agent-a lost it (its lease expired)"
