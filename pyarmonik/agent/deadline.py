"""A task's ``max_duration`` as the deadline of its worker call.

ArmoniK's "infinite" duration is the largest protobuf Duration
(315,576,000,000 s, the default of its Rust crate and .NET SDK), and any
Duration the protos allow is a valid max_duration. grpc-python turns a
timeout into an absolute deadline in int64 nanoseconds, which overflows for
timeouts above about 7.4e9 s (year 2262): the call then fails at once with
DEADLINE_EXCEEDED. A duration no deadline can carry means no deadline, as
in ArmoniK.Core, which never enforces max_duration at all.
"""

from __future__ import annotations

#: Longest deadline given to a call (about 31 years): far below grpc's
#: overflow, far above any task a grid will see end.
MAX_DEADLINE_SECONDS = 1e9


def deadline_seconds(max_duration: float | None) -> float | None:
    """The timeout of the worker call: ``None`` (no deadline) when the
    duration is unset or longer than ``MAX_DEADLINE_SECONDS``; a negative
    duration is already exceeded (0)."""
    if max_duration is None or max_duration > MAX_DEADLINE_SECONDS:
        return None
    return max(max_duration, 0.0)
