"""TaskOptions and time values between protobuf and the domain."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from armonik.protogen.common import objects_pb2
from pyarmonik.core.models import TaskOptions


def options_from_pb(message: objects_pb2.TaskOptions) -> TaskOptions:
    return TaskOptions(
        max_duration=seconds_from_pb(message.max_duration) if message.HasField("max_duration") else None,
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


def optional_options_from_pb(parent: object, field: str) -> TaskOptions | None:
    """Options of a message field, ``None`` when the field is not set: an
    absent message means "inherit everything", unlike a zero priority."""
    return options_from_pb(getattr(parent, field)) if parent.HasField(field) else None  # type: ignore[attr-defined]


def options_to_pb(options: TaskOptions) -> objects_pb2.TaskOptions:
    message = objects_pb2.TaskOptions(
        max_retries=options.max_retries,
        priority=options.priority,
        partition_id=options.partition_id,
        application_name=options.application_name,
        application_version=options.application_version,
        application_namespace=options.application_namespace,
        application_service=options.application_service,
        engine_type=options.engine_type,
        options=options.options,
    )
    if options.max_duration is not None:
        message.max_duration.CopyFrom(duration_to_pb(options.max_duration))
    return message


def seconds_from_pb(value: Duration | Timestamp) -> float:
    return value.seconds + value.nanos / 1e9


def duration_to_pb(seconds: float) -> Duration:
    message = Duration()
    message.FromNanoseconds(round(seconds * 1e9))
    return message


def timestamp_to_pb(seconds: float) -> Timestamp:
    message = Timestamp()
    message.FromNanoseconds(round(seconds * 1e9))
    return message
