"""Protobuf <-> domain conversion shared by every service.

Times cross the wire as google Timestamps/Durations and live in the domain as
float seconds; an unset domain time (``None``) leaves the protobuf field
unset, which the official client reads back as ``None``. Statuses are plain
``int()`` both ways (``core.statuses`` keeps the wire numbers). The
per-entity modules (``convert_sessions`` ...) build on these helpers.

Request validation that needs no state (a missing id, an empty list) raises
``errors.InvalidArgument`` here, so servicers stay free of checks.
"""

from __future__ import annotations

from collections.abc import Iterable

from armonik.protogen.common import objects_pb2
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from pyarmonik.core import errors, filters
from pyarmonik.core.models import TaskOptions

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


def seconds(message: Timestamp | Duration) -> float:
    return message.ToNanoseconds() / _NANOS


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
        max_duration=seconds(message.max_duration) if message.HasField("max_duration") else None,
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


# -- validation ----------------------------------------------------------


def required(value: str, name: str) -> str:
    if not value:
        raise errors.InvalidArgument(f"{name} is required")
    return value


def required_ids(values: Iterable[str], name: str) -> list[str]:
    """A non-empty list of non-empty ids."""
    ids = list(values)
    if not ids:
        raise errors.InvalidArgument(f"{name} must list at least one id")
    if not all(ids):
        raise errors.InvalidArgument(f"{name} contains an empty id")
    return ids


# -- lists ---------------------------------------------------------------


def list_query(request: object, where: filters.Filters, sort: filters.Sort | None) -> filters.ListQuery:
    """A List*Request's page and page size with its converted filter and sort;
    a negative page or page size is INVALID_ARGUMENT."""
    page: int = request.page  # type: ignore[attr-defined]
    page_size: int = request.page_size  # type: ignore[attr-defined]
    if page < 0 or page_size < 0:
        raise errors.InvalidArgument(f"page ({page}) and page_size ({page_size}) must not be negative")
    return filters.ListQuery(where=where, sort=sort, page=page, page_size=page_size)
