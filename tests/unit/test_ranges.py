"""The ranges of the numeric task options (core/ranges.py)."""

from __future__ import annotations

import pytest

from pyarmonik.core import errors, ranges
from pyarmonik.core.models import TaskOptions


def test_the_priority_range_is_the_queues() -> None:
    """|priority| < 4096 keeps the queue's scores exact (storage/redis/queue.py)."""
    assert ranges.PRIORITY.low == -4095 and ranges.PRIORITY.high == 4095
    assert 4095 in ranges.PRIORITY and 4096 not in ranges.PRIORITY and -4096 not in ranges.PRIORITY


def test_unset_task_options_are_in_range() -> None:
    ranges.check_task_options(TaskOptions(), field="task_options")
    ranges.check_task_options(None, field="task_options")


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (TaskOptions(priority=4096), "x.priority is 4096: the allowed range is -4095..4095"),
        (TaskOptions(max_retries=-1), "x.max_retries is -1: the allowed range is 0..2147483647"),
        (TaskOptions(max_duration=-0.5), "x.max_duration is -0.5 s: the allowed range is 0..315576000000 s"),
        (TaskOptions(max_duration=315576000000.5), "x.max_duration is 315576000000.5 s"),
    ],
)
def test_a_value_out_of_range_is_refused_naming_the_field_and_range(options: TaskOptions, named: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=named.replace(".", r"\.")):
        ranges.check_task_options(options, field="x")


def test_session_defaults_need_retries_a_priority_of_1_to_99_and_a_time_limit() -> None:
    usable = TaskOptions(max_duration=ranges.MAX_DURATION_SECONDS, max_retries=1, priority=99)
    ranges.check_session_defaults(usable)
    for unusable in (
        TaskOptions(max_duration=60, max_retries=0, priority=1),
        TaskOptions(max_duration=60, max_retries=1, priority=0),
        TaskOptions(max_duration=None, max_retries=1, priority=1),
    ):
        with pytest.raises(errors.InvalidArgument, match="default_task_option"):
            ranges.check_session_defaults(unusable)
