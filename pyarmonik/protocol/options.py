"""Time values and TaskOptions between protobuf and the domain, shared by
the control plane and the agent.

Times cross the wire as google Timestamps/Durations and live in the domain as
float seconds; an unset domain time (``None``) leaves the protobuf field
unset, which the official client reads back as ``None``.
"""

from __future__ import annotations

from armonik.protogen.common import objects_pb2
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from pyarmonik.core import errors
from pyarmonik.core.models import TaskOptions
from pyarmonik.core.ranges import MAX_DURATION_SECONDS

_NANOS = 1_000_000_000


def timestamp(seconds: float | None) -> Timestamp | None:
    """UNIX seconds as a Timestamp; ``None`` stays ``None`` (field left unset)."""
    if seconds is None:
        return None
    message = Timestamp()
    message.FromNanoseconds(round(seconds * _NANOS))
    return message


def duration(seconds: float | None) -> Duration | None:
    if seconds is None:
        return None
    message = Duration()
    message.FromNanoseconds(round(seconds * _NANOS))
    return message


def seconds(message: Timestamp | Duration, *, what: str = "time") -> float:
    """UNIX seconds of a Timestamp, seconds of a Duration; ``InvalidArgument``
    naming ``what`` when the message is outside its type's valid range (a
    Timestamp before year 1 or after 9999, nanos out of [0, 1e9), a Duration
    beyond 10,000 years or whose seconds and nanos disagree in sign)."""
    if isinstance(message, Duration):
        _check_duration(message, what)
        return message.ToNanoseconds() / _NANOS
    try:
        return message.ToNanoseconds() / _NANOS  # checks the Timestamp's range itself
    except ValueError as exc:
        raise errors.InvalidArgument(f"{what}: {exc}") from exc


def _check_duration(message: Duration, what: str) -> None:
    secs, nanos = message.seconds, message.nanos
    if abs(secs) > MAX_DURATION_SECONDS or abs(nanos) >= _NANOS or (secs and nanos and (secs < 0) != (nanos < 0)):
        raise errors.InvalidArgument(
            f"{what}: Duration {secs} s {nanos} ns is not valid (at most {MAX_DURATION_SECONDS} s, "
            "nanos below 1e9 and of the sign of the seconds)"
        )


# -- task options --------------------------------------------------------


def task_options_to_pb(options: TaskOptions) -> objects_pb2.TaskOptions:
    return objects_pb2.TaskOptions(
        max_duration=duration(options.max_duration),
        max_retries=options.max_retries,
        priority=options.priority,
        partition_id=options.partition_id,
        application_name=options.application_name,
        application_version=options.application_version,
        application_namespace=options.application_namespace,
        application_service=options.application_service,
        engine_type=options.engine_type,
        options=dict(options.options),
    )


def task_options_from_pb(message: objects_pb2.TaskOptions) -> TaskOptions:
    return TaskOptions(
        max_duration=seconds(message.max_duration, what="max_duration") if message.HasField("max_duration") else None,
        max_retries=message.max_retries,
        priority=message.priority,
        partition_id=message.partition_id,
        application_name=message.application_name,
        application_version=message.application_version,
        application_namespace=message.application_namespace,
        application_service=message.application_service,
        engine_type=message.engine_type,
        options=dict(message.options),
    )


def optional_task_options(parent: object, field: str) -> TaskOptions | None:
    """The TaskOptions field ``field`` of ``parent``, ``None`` when not set."""
    if not parent.HasField(field):  # type: ignore[attr-defined]
        return None
    return task_options_from_pb(getattr(parent, field))
