"""ArmoniK list filters and sorts (protobuf) as ``pyarmonik.core.filters``.

One table per entity maps each field enum of the API to a path on the domain
record (``pyarmonik.core.models``) and the one value kind that path accepts;
a generic task option ``key`` becomes the string field
``"options.options.<key>"``. A filter that names no field, carries no value
condition, or whose value kind does not fit its field raises
``InvalidArgument`` with the field in the message.

Sorts: an unset field (or an UNSPECIFIED enum) gives ``None``, the default
order; SORT_DIRECTION_DESC sorts descending, any other direction ascending.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from armonik.protogen.common import (
    applications_common_pb2,
    applications_fields_pb2,
    applications_filters_pb2,
    partitions_common_pb2,
    partitions_fields_pb2,
    partitions_filters_pb2,
    results_common_pb2,
    results_fields_pb2,
    results_filters_pb2,
    sessions_common_pb2,
    sessions_fields_pb2,
    sessions_filters_pb2,
    sort_direction_pb2,
    tasks_common_pb2,
    tasks_fields_pb2,
    tasks_filters_pb2,
)
from armonik.protogen.common import filters_common_pb2 as fc
from google.protobuf.message import Message

from pyarmonik.core.errors import InvalidArgument
from pyarmonik.core.filters import GENERIC_OPTION_PREFIX, Condition, Filters, Op, Sort, ValueKind
from pyarmonik.protocol import options

FieldSpec = tuple[str, ValueKind]
"""Domain path of a field, and the one value kind its filters must use."""

STRING, NUMBER, DATE, BOOLEAN = ValueKind.STRING, ValueKind.NUMBER, ValueKind.DATE, ValueKind.BOOLEAN
STATUS, ARRAY, DURATION = ValueKind.STATUS, ValueKind.ARRAY, ValueKind.DURATION


def _table(module: ModuleType, prefix: str, specs: Mapping[str, FieldSpec | None]) -> dict[int, FieldSpec | None]:
    """``{enum number: spec}`` from enum names without their prefix; a
    ``None`` spec marks a field that exists but can be neither filtered nor sorted."""
    return {getattr(module, prefix + name): spec for name, spec in specs.items()}


# ---------------------------------------------------------------- field tables

_TASK_OPTIONS: dict[str, FieldSpec | None] = {
    "MAX_DURATION": ("options.max_duration", DURATION),
    "MAX_RETRIES": ("options.max_retries", NUMBER),
    "PRIORITY": ("options.priority", NUMBER),
    "PARTITION_ID": ("options.partition_id", STRING),
    "APPLICATION_NAME": ("options.application_name", STRING),
    "APPLICATION_VERSION": ("options.application_version", STRING),
    "APPLICATION_NAMESPACE": ("options.application_namespace", STRING),
    "APPLICATION_SERVICE": ("options.application_service", STRING),
    "ENGINE_TYPE": ("options.engine_type", STRING),
}

_TASK_SUMMARY: dict[str, FieldSpec | None] = {
    "TASK_ID": ("task_id", STRING),
    "SESSION_ID": ("session_id", STRING),
    "OWNER_POD_ID": ("owner_pod_id", STRING),
    "INITIAL_TASK_ID": ("initial_task_id", STRING),
    "STATUS": ("status", STATUS),
    "CREATED_AT": ("created_at", DATE),
    "SUBMITTED_AT": ("submitted_at", DATE),
    "STARTED_AT": ("started_at", DATE),
    "ENDED_AT": ("ended_at", DATE),
    "CREATION_TO_END_DURATION": ("creation_to_end_duration", DURATION),
    "PROCESSING_TO_END_DURATION": ("processing_to_end_duration", DURATION),
    "RECEIVED_TO_END_DURATION": ("received_to_end_duration", DURATION),
    "POD_TTL": ("pod_ttl", DATE),  # a Timestamp in the API, as in the official client
    "POD_HOSTNAME": ("pod_hostname", STRING),
    "RECEIVED_AT": ("received_at", DATE),
    "ACQUIRED_AT": ("acquired_at", DATE),
    "PROCESSED_AT": ("processed_at", DATE),
    "ERROR": ("output_error", STRING),
    "FETCHED_AT": ("fetched_at", DATE),
    "PAYLOAD_ID": ("payload_id", STRING),
    "CREATED_BY": ("created_by", STRING),
}

_SESSION_RAW: dict[str, FieldSpec | None] = {
    "SESSION_ID": ("session_id", STRING),
    "STATUS": ("status", STATUS),
    "PARTITION_IDS": ("partition_ids", ARRAY),
    "OPTIONS": None,
    "CREATED_AT": ("created_at", DATE),
    "CANCELLED_AT": ("cancelled_at", DATE),
    "CLOSED_AT": ("closed_at", DATE),
    "PURGED_AT": ("purged_at", DATE),
    "DELETED_AT": ("deleted_at", DATE),
    "DURATION": ("duration", DURATION),
    "WORKER_SUBMISSION": ("worker_submission", BOOLEAN),
    "CLIENT_SUBMISSION": ("client_submission", BOOLEAN),
}

_RESULT_RAW: dict[str, FieldSpec | None] = {
    "SESSION_ID": ("session_id", STRING),
    "NAME": ("name", STRING),
    "OWNER_TASK_ID": ("owner_task_id", STRING),
    "STATUS": ("status", STATUS),
    "CREATED_AT": ("created_at", DATE),
    "COMPLETED_AT": ("completed_at", DATE),
    "RESULT_ID": ("result_id", STRING),
    "SIZE": ("size", NUMBER),
    "CREATED_BY": ("created_by", STRING),
    "OPAQUE_ID": ("opaque_id", STRING),  # bytes, compared as text decoded with errors="replace"
    "MANUAL_DELETION": ("manual_deletion", BOOLEAN),
}

_PARTITION_RAW: dict[str, FieldSpec | None] = {
    "ID": ("partition_id", STRING),
    "PARENT_PARTITION_IDS": ("parent_partition_ids", ARRAY),
    "POD_RESERVED": ("pod_reserved", NUMBER),
    "POD_MAX": ("pod_max", NUMBER),
    "PREEMPTION_PERCENTAGE": ("preemption_percentage", NUMBER),
    "PRIORITY": ("priority", NUMBER),
}

_APPLICATION_RAW: dict[str, FieldSpec | None] = {
    "NAME": ("name", STRING),
    "VERSION": ("version", STRING),
    "NAMESPACE": ("namespace", STRING),
    "SERVICE": ("service", STRING),
}


@dataclass(frozen=True)
class _Entity:
    """How one entity's field message (a oneof named ``field``) maps to specs."""

    name: str
    tables: Mapping[str, Mapping[int, FieldSpec | None]]  # oneof member -> enum table
    generic: str | None = None  # oneof member carrying a generic task option key


_TASK = _Entity(
    "task",
    {
        "task_summary_field": _table(tasks_fields_pb2, "TASK_SUMMARY_ENUM_FIELD_", _TASK_SUMMARY),
        "task_option_field": _table(tasks_fields_pb2, "TASK_OPTION_ENUM_FIELD_", _TASK_OPTIONS),
    },
    generic="task_option_generic_field",
)
_SESSION = _Entity(
    "session",
    {
        "session_raw_field": _table(sessions_fields_pb2, "SESSION_RAW_ENUM_FIELD_", _SESSION_RAW),
        "task_option_field": _table(sessions_fields_pb2, "TASK_OPTION_ENUM_FIELD_", _TASK_OPTIONS),
    },
    generic="task_option_generic_field",
)
_RESULT = _Entity("result", {"result_raw_field": _table(results_fields_pb2, "RESULT_RAW_ENUM_FIELD_", _RESULT_RAW)})
_PARTITION = _Entity(
    "partition", {"partition_raw_field": _table(partitions_fields_pb2, "PARTITION_RAW_ENUM_FIELD_", _PARTITION_RAW)}
)
_APPLICATION = _Entity(
    "application",
    {"application_field": _table(applications_fields_pb2, "APPLICATION_RAW_ENUM_FIELD_", _APPLICATION_RAW)},
)


# ------------------------------------------------------------ value conditions


def _seconds(value: Any) -> float:
    """A google Timestamp (UNIX seconds) or Duration (seconds) as a float;
    one outside its type's range is ``InvalidArgument``."""
    return options.seconds(value, what="filter value")


_VALUE_CONDITIONS: dict[str, tuple[ValueKind, dict[int, Op], Callable[[Any], object]]] = {
    "filter_string": (
        STRING,
        {
            fc.FILTER_STRING_OPERATOR_EQUAL: Op.EQ,
            fc.FILTER_STRING_OPERATOR_NOT_EQUAL: Op.NE,
            fc.FILTER_STRING_OPERATOR_CONTAINS: Op.CONTAINS,
            fc.FILTER_STRING_OPERATOR_NOT_CONTAINS: Op.NOT_CONTAINS,
            fc.FILTER_STRING_OPERATOR_STARTS_WITH: Op.STARTS_WITH,
            fc.FILTER_STRING_OPERATOR_ENDS_WITH: Op.ENDS_WITH,
        },
        str,
    ),
    "filter_number": (
        NUMBER,
        {
            fc.FILTER_NUMBER_OPERATOR_EQUAL: Op.EQ,
            fc.FILTER_NUMBER_OPERATOR_NOT_EQUAL: Op.NE,
            fc.FILTER_NUMBER_OPERATOR_LESS_THAN: Op.LT,
            fc.FILTER_NUMBER_OPERATOR_LESS_THAN_OR_EQUAL: Op.LE,
            fc.FILTER_NUMBER_OPERATOR_GREATER_THAN_OR_EQUAL: Op.GE,
            fc.FILTER_NUMBER_OPERATOR_GREATER_THAN: Op.GT,
        },
        int,
    ),
    "filter_date": (
        DATE,
        {
            fc.FILTER_DATE_OPERATOR_EQUAL: Op.EQ,
            fc.FILTER_DATE_OPERATOR_NOT_EQUAL: Op.NE,
            fc.FILTER_DATE_OPERATOR_BEFORE: Op.LT,
            fc.FILTER_DATE_OPERATOR_BEFORE_OR_EQUAL: Op.LE,
            fc.FILTER_DATE_OPERATOR_AFTER_OR_EQUAL: Op.GE,
            fc.FILTER_DATE_OPERATOR_AFTER: Op.GT,
        },
        _seconds,
    ),
    "filter_duration": (
        DURATION,
        {
            fc.FILTER_DURATION_OPERATOR_EQUAL: Op.EQ,
            fc.FILTER_DURATION_OPERATOR_NOT_EQUAL: Op.NE,
            fc.FILTER_DURATION_OPERATOR_SHORTER_THAN: Op.LT,
            fc.FILTER_DURATION_OPERATOR_SHORTER_THAN_OR_EQUAL: Op.LE,
            fc.FILTER_DURATION_OPERATOR_LONGER_THAN_OR_EQUAL: Op.GE,
            fc.FILTER_DURATION_OPERATOR_LONGER_THAN: Op.GT,
        },
        _seconds,
    ),
    "filter_boolean": (BOOLEAN, {fc.FILTER_BOOLEAN_OPERATOR_IS: Op.IS}, bool),
    "filter_status": (
        STATUS,
        {fc.FILTER_STATUS_OPERATOR_EQUAL: Op.EQ, fc.FILTER_STATUS_OPERATOR_NOT_EQUAL: Op.NE},
        int,
    ),
    "filter_array": (
        ARRAY,
        {fc.FILTER_ARRAY_OPERATOR_CONTAINS: Op.CONTAINS, fc.FILTER_ARRAY_OPERATOR_NOT_CONTAINS: Op.NOT_CONTAINS},
        str,
    ),
}


# ------------------------------------------------------------------ conversion


def _enum_name(message: Message, number: int) -> str:
    value = message.DESCRIPTOR.fields_by_name["field"].enum_type.values_by_number.get(number)
    return value.name if value is not None else str(number)


def _resolve(entity: _Entity, field: Message) -> FieldSpec | None:
    """The spec of an entity's field message; ``None`` when no field is set
    (no oneof member, an UNSPECIFIED enum, an empty generic option key)."""
    which = field.WhichOneof("field")
    if which is None:
        return None
    inner = getattr(field, which)
    if which == entity.generic:
        return (GENERIC_OPTION_PREFIX + inner.field, STRING) if inner.field else None
    if inner.field == 0:
        return None
    table = entity.tables[which]
    if inner.field not in table:
        raise InvalidArgument(f"unknown {entity.name} field {_enum_name(inner, inner.field)}")
    spec = table[inner.field]
    if spec is None:
        raise InvalidArgument(f"{entity.name} field {_enum_name(inner, inner.field)} cannot be filtered or sorted on")
    return spec


def _condition(entity: _Entity, filter_field: Any) -> Condition:
    spec = _resolve(entity, filter_field.field) if filter_field.HasField("field") else None
    if spec is None:
        raise InvalidArgument(f"a {entity.name} filter names no field")
    path, kind = spec
    which = filter_field.WhichOneof("value_condition")
    if which is None:
        raise InvalidArgument(f"the {entity.name} filter on {path!r} has no value condition")
    given, operators, convert = _VALUE_CONDITIONS[which]
    if given is not kind:
        raise InvalidArgument(f"{entity.name} field {path!r} is a {kind.value} field and takes no {given.value} filter")
    condition = getattr(filter_field, which)
    op = operators.get(condition.operator)
    if op is None:
        raise InvalidArgument(f"unknown {given.value} operator {condition.operator} on {entity.name} field {path!r}")
    return Condition(path, kind, op, convert(condition.value))


def _filters(entity: _Entity, message: Any) -> Filters:
    return tuple(
        tuple(_condition(entity, filter_field) for filter_field in getattr(conjunction, "and"))
        for conjunction in getattr(message, "or")
    )


def _sort(entity: _Entity, field: Message | None, direction: int) -> Sort | None:
    spec = None if field is None else _resolve(entity, field)
    if spec is None:
        return None
    return Sort(spec[0], descending=direction == sort_direction_pb2.SORT_DIRECTION_DESC)


def task_filters(msg: tasks_filters_pb2.Filters) -> Filters:
    return _filters(_TASK, msg)


def session_filters(msg: sessions_filters_pb2.Filters) -> Filters:
    return _filters(_SESSION, msg)


def result_filters(msg: results_filters_pb2.Filters) -> Filters:
    return _filters(_RESULT, msg)


def partition_filters(msg: partitions_filters_pb2.Filters) -> Filters:
    return _filters(_PARTITION, msg)


def application_filters(msg: applications_filters_pb2.Filters) -> Filters:
    return _filters(_APPLICATION, msg)


def task_sort(msg: tasks_common_pb2.ListTasksRequest.Sort) -> Sort | None:
    return _sort(_TASK, msg.field if msg.HasField("field") else None, msg.direction)


def session_sort(msg: sessions_common_pb2.ListSessionsRequest.Sort) -> Sort | None:
    return _sort(_SESSION, msg.field if msg.HasField("field") else None, msg.direction)


def result_sort(msg: results_common_pb2.ListResultsRequest.Sort) -> Sort | None:
    return _sort(_RESULT, msg.field if msg.HasField("field") else None, msg.direction)


def partition_sort(msg: partitions_common_pb2.ListPartitionsRequest.Sort) -> Sort | None:
    return _sort(_PARTITION, msg.field if msg.HasField("field") else None, msg.direction)


def application_sort(msg: applications_common_pb2.ListApplicationsRequest.Sort) -> Sort | None:
    """The sort on the FIRST of ``msg.fields`` (``core.filters.ListQuery``
    sorts on one field); further fields are ignored."""
    return _sort(_APPLICATION, msg.fields[0] if msg.fields else None, msg.direction)
