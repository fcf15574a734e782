"""A task's max_duration as the deadline of its worker call."""

from __future__ import annotations

import pytest

from pyarmonik.agent.deadline import MAX_DEADLINE_SECONDS, deadline_seconds

#: ArmoniK's INFINITE_DURATION, the largest protobuf Duration.
INFINITE = 315_576_000_000.0


@pytest.mark.parametrize(
    ("max_duration", "deadline"),
    [
        (None, None),
        (0.5, 0.5),
        (MAX_DEADLINE_SECONDS, MAX_DEADLINE_SECONDS),
        (MAX_DEADLINE_SECONDS + 1, None),
        (8e9, None),  # past grpc-python's int64-nanosecond deadline
        (INFINITE, None),
        (-5.0, 0.0),
    ],
)
def test_a_duration_beyond_what_a_deadline_carries_means_no_deadline(
    max_duration: float | None, deadline: float | None
) -> None:
    assert deadline_seconds(max_duration) == deadline
