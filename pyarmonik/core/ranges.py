"""The allowed values of the numeric task options, checked at the door.

A value the grid cannot run must be refused before anything is written: a
priority the queue cannot order, once stored, left its task SUBMITTED and
never queued. Every caller (the client API's CreateSession and
SubmitTasks, the Agent API's SubmitTasks and legacy CreateTask) goes
through ``check_session_defaults`` or ``check_task_options``, so the
ranges live here and nowhere else (the queue reads ``PRIORITY`` too).

In a task's options, zero means "not set": the session default is used
(``TaskOptions.merged_over``); ArmoniK's legal values all stay accepted,
the largest protobuf Duration ("no time limit") included.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyarmonik.core import errors, fairshare
from pyarmonik.core.models import TaskOptions


@dataclass(frozen=True, slots=True)
class Range:
    """The closed range ``low..high``."""

    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.low}..{self.high}"


#: A task's priority, higher first. The queue gives each priority a band of
#: 2**32 scores (``lib_queue.lua``), far inside a double's exact integers here.
PRIORITY = Range(-4095, 4095)
#: A session's default priority, as ArmoniK.Core requires of session defaults.
SESSION_PRIORITY = Range(1, 99)
#: Retries of a crashed task: protobuf's int32, not below zero.
MAX_RETRIES = Range(0, 2**31 - 1)
#: A session's default retries, at least one, as ArmoniK.Core requires.
SESSION_MAX_RETRIES = Range(1, 2**31 - 1)
#: The largest google.protobuf.Duration (about 10,000 years): ArmoniK's "no time limit".
MAX_DURATION_SECONDS = 315_576_000_000
#: A task's time limit in seconds (0: the session default's).
MAX_DURATION = Range(0, MAX_DURATION_SECONDS)


def _check(value: int | float | None, allowed: Range, field: str, unit: str = "") -> None:
    if value is not None and value not in allowed:
        raise errors.InvalidArgument(f"{field} is {value}{unit}: the allowed range is {allowed}{unit}")


def check_task_options(options: TaskOptions | None, *, field: str) -> None:
    """``options`` given with a task or a batch (``field`` names them, e.g.
    ``task_creations[2].task_options``): ``InvalidArgument`` naming the
    first field out of its range."""
    if options is None:
        return
    _check(options.priority, PRIORITY, f"{field}.priority")
    _check(options.max_retries, MAX_RETRIES, f"{field}.max_retries")
    _check(options.max_duration, MAX_DURATION, f"{field}.max_duration", " s")


def check_session_defaults(options: TaskOptions, *, field: str = "default_task_option") -> None:
    """A session's defaults, which every task may fall back on: usable, as
    ArmoniK.Core requires (retries >= 1, priority 1..99, a time limit), and
    a fair-share weight (``fairshare.WEIGHT_OPTION``) that is one."""
    _check(options.priority, SESSION_PRIORITY, f"{field}.priority")
    _check(options.max_retries, SESSION_MAX_RETRIES, f"{field}.max_retries")
    if not options.max_duration:
        raise errors.InvalidArgument(f"{field}.max_duration is required (at most {MAX_DURATION_SECONDS} s)")
    _check(options.max_duration, MAX_DURATION, f"{field}.max_duration", " s")
    try:
        fairshare.session_weight(options.options)
    except ValueError as exc:
        raise errors.InvalidArgument(f"{field}.options: {exc}") from None
