"""Wire format of events on Redis pub/sub, and of the records they carry.

The producers of a session's channel (``keys.session_events``) are the Lua
scripts of a Redis state store, which PUBLISH the events of a transition in
the same script that commits it, so that subscribers on every control-plane
replica see changes committed anywhere; ``encode_events`` writes the same
format from Python (the tests publish with it). One message carries every
event of one transition, one line each (``\n``-separated), in a compact
fixed-format line that a subscriber reads without decoding any JSON::

    <kind>\t<status>\t<id>\t<previous owner>\t<current owner>\t<record JSON>

``kind`` is the EventKind's API number; ``status`` and ``id`` are the task's
(NEW_TASK, TASK_STATUS_UPDATE) or the result's (the other kinds); the owners
are set for RESULT_OWNER_UPDATE only; the record is the task or result JSON
below (empty for an event without one). A subscriber that does not want an
event's kind skips its line unread, and one that needs only ids and statuses
(``light``) never decodes the record of a status or owner update. Ids hold
no tab or newline (the grid makes them). The session is the channel's.

    task: {"task_id", "session_id", "status" (TaskStatus number),
           "options": {"max_duration" (seconds | null), "max_retries",
                       "priority", "partition_id", "application_name",
                       "application_version", "application_namespace",
                       "application_service", "engine_type",
                       "options": {str: str}},
           "created_at", "payload_id", "data_dependencies" [str],
           "expected_output_ids" [str], "parent_task_ids" [str],
           "retry_of_ids" [str], "initial_task_id", "created_by",
           "status_message", "owner_pod_id", "pod_hostname",
           "submitted_at", "received_at", "acquired_at", "fetched_at",
           "started_at", "processed_at", "ended_at", "pod_ttl"
           (UNIX seconds | null), "output_success" (bool), "output_error"}

    result: {"session_id", "result_id", "name", "status" (ResultStatus
             number), "created_at", "owner_task_id", "created_by",
             "completed_at" (UNIX seconds | null), "size",
             "opaque_id" (lowercase hex of the bytes), "manual_deletion" (bool)}

Field names are the attribute names of ``pyarmonik.core.models``. The
decoder is lenient where Lua's ``cjson`` is limited, so Lua producers may:

- leave out any field but ``kind`` and ``session_id`` (a missing field, like
  a Lua ``nil``, takes the model's default; ``null`` stays ``None``);
- write an empty list or map as either ``[]`` or ``{}`` (cjson cannot tell
  them apart);
- write a time or duration as a decimal string (``"1718000000.123456"``)
  instead of a number: cjson prints numbers with 14 significant digits, too
  few for microsecond UNIX times, so a script should splice the exact text it
  stored rather than re-encode a number;
- write booleans as ``true``/``false`` or ``1``/``0``.

Python producers write the canonical form (every field, numbers as numbers,
floats with ``repr`` precision), which round-trips exactly.
"""

from __future__ import annotations

import json
from collections.abc import Container, Sequence
from typing import Any

from pyarmonik.core.models import Event, Result, Task, TaskOptions
from pyarmonik.core.statuses import EventKind, ResultStatus, TaskStatus

_SEPARATORS = frozenset("\t\n")
_TASK_KINDS = frozenset({EventKind.NEW_TASK, EventKind.TASK_STATUS_UPDATE})
_RESULT_KINDS = frozenset({EventKind.NEW_RESULT, EventKind.RESULT_STATUS_UPDATE, EventKind.RESULT_OWNER_UPDATE})
#: The kinds a ``light`` subscriber reads from the fixed fields alone.
_UPDATES = frozenset({EventKind.TASK_STATUS_UPDATE, EventKind.RESULT_STATUS_UPDATE, EventKind.RESULT_OWNER_UPDATE})

_OPTION_TEXTS = (
    "partition_id",
    "application_name",
    "application_version",
    "application_namespace",
    "application_service",
    "engine_type",
)
_TASK_TEXTS = (
    "task_id",
    "session_id",
    "payload_id",
    "initial_task_id",
    "created_by",
    "status_message",
    "owner_pod_id",
    "pod_hostname",
    "output_error",
)
_TASK_LISTS = ("data_dependencies", "expected_output_ids", "parent_task_ids", "retry_of_ids")
_TASK_TIMES = (
    "submitted_at",
    "received_at",
    "acquired_at",
    "fetched_at",
    "started_at",
    "processed_at",
    "ended_at",
    "pod_ttl",
)
_RESULT_TEXTS = ("session_id", "result_id", "name", "owner_task_id", "created_by")


# -- encoding -------------------------------------------------------------------
def encode_events(events: Sequence[Event]) -> str:
    """One message carrying ``events`` in order (see the module docstring)."""
    return "\n".join(_line(event) for event in events)


def encode_event(event: Event) -> str:
    return encode_events([event])


def _line(event: Event) -> str:
    if event.task is not None:
        status, id_, record = int(event.task.status), event.task.task_id, _task_fields(event.task)
    elif event.result is not None:
        status, id_, record = int(event.result.status), event.result.result_id, _result_fields(event.result)
    else:
        status, id_, record = 0, event.session_id, None  # an event about no record names its session
    parts = (str(int(event.kind)), str(status), id_, event.previous_owner_id, event.current_owner_id)
    if any(_SEPARATORS.intersection(part) for part in parts):
        raise ValueError(f"an event id holds a tab or a newline: {parts!r:.200}")
    body = "" if record is None else json.dumps(record, separators=(",", ":"))
    return "\t".join((*parts, body))


def _options_fields(options: TaskOptions) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "max_duration": options.max_duration,
        "max_retries": options.max_retries,
        "priority": options.priority,
    }
    fields.update({name: getattr(options, name) for name in _OPTION_TEXTS})
    fields["options"] = dict(options.options)
    return fields


def _task_fields(task: Task) -> dict[str, Any]:
    fields: dict[str, Any] = {name: getattr(task, name) for name in _TASK_TEXTS}
    fields.update({name: list(getattr(task, name)) for name in _TASK_LISTS})
    fields.update({name: getattr(task, name) for name in _TASK_TIMES})
    fields.update(
        status=int(task.status),
        options=_options_fields(task.options),
        created_at=task.created_at,
        output_success=task.output_success,
    )
    return fields


def _result_fields(result: Result) -> dict[str, Any]:
    fields: dict[str, Any] = {name: getattr(result, name) for name in _RESULT_TEXTS}
    fields.update(
        status=int(result.status),
        created_at=result.created_at,
        completed_at=result.completed_at,
        size=result.size,
        opaque_id=result.opaque_id.hex(),
        manual_deletion=result.manual_deletion,
    )
    return fields


# -- decoding -------------------------------------------------------------------
def decode_events(
    data: str | bytes, session_id: str, *, kinds: Container[EventKind] | None = None, light: bool = False
) -> list[Event]:
    """The events of one message of ``session_id``'s channel, those of
    ``kinds`` only (every kind when ``None``): the other lines are skipped
    unread. With ``light``, status and owner updates carry a record with its
    id, session and status only, decoded from the line's fixed fields
    without reading its JSON. ``ValueError`` when a line is not an event."""
    text = data.decode() if isinstance(data, bytes) else data
    found = []
    for line in text.split("\n"):
        parts = line.split("\t", 5)
        if len(parts) != 6:
            raise ValueError(f"not an event: {line!r:.200}")
        kind = EventKind(int(parts[0]))
        if kinds is not None and kind not in kinds:
            continue
        found.append(_event(kind, parts, session_id, light))
    return found


def decode_event(data: str | bytes, session_id: str = "") -> Event:
    """The one event of a message; ``ValueError`` when it is not one. The
    session is taken from the record when not given."""
    events = decode_events(data, session_id)
    if len(events) != 1:
        raise ValueError(f"not one event: {data!r:.200}")
    return events[0]


def _event(kind: EventKind, parts: list[str], session_id: str, light: bool) -> Event:
    _, status, id_, previous, current, body = parts
    task = result = None
    if light and kind in _UPDATES:
        if kind in _TASK_KINDS:
            task = _skeleton_task(id_, session_id, TaskStatus(int(status)))
        else:
            result = Result(
                session_id=session_id, result_id=id_, name="", status=ResultStatus(int(status)), created_at=0.0
            )
    elif body:
        fields = json.loads(body)
        if not isinstance(fields, dict):
            raise ValueError(f"not an event record: {body!r:.200}")
        if kind in _TASK_KINDS:
            task = _task(fields)
        else:
            result = _result(fields)
        session_id = session_id or (task or result).session_id  # type: ignore[union-attr]
    elif kind not in _TASK_KINDS and kind not in _RESULT_KINDS:
        session_id = session_id or id_
    return Event(kind, session_id, task=task, result=result, previous_owner_id=previous, current_owner_id=current)


def _skeleton_task(task_id: str, session_id: str, status: TaskStatus) -> Task:
    return Task(task_id, session_id, status, TaskOptions(), created_at=0.0, payload_id="")


def _options(fields: dict[str, Any]) -> TaskOptions:
    return TaskOptions(
        max_duration=_time(fields.get("max_duration")),
        max_retries=int(fields.get("max_retries") or 0),
        priority=int(fields.get("priority") or 0),
        options={str(k): str(v) for k, v in _mapping(fields.get("options")).items()},
        **{name: str(fields.get(name) or "") for name in _OPTION_TEXTS},
    )


def _task(fields: dict[str, Any]) -> Task:
    values: dict[str, Any] = {name: str(fields.get(name) or "") for name in _TASK_TEXTS}
    values.update({name: _texts(fields.get(name)) for name in _TASK_LISTS})
    values.update({name: _time(fields.get(name)) for name in _TASK_TIMES})
    return Task(
        status=TaskStatus(int(fields.get("status") or 0)),
        options=_options(_mapping(fields.get("options"))),
        created_at=_time(fields.get("created_at")) or 0.0,
        output_success=_flag(fields.get("output_success")),
        **values,
    )


def _result(fields: dict[str, Any]) -> Result:
    return Result(
        status=ResultStatus(int(fields.get("status") or 0)),
        created_at=_time(fields.get("created_at")) or 0.0,
        completed_at=_time(fields.get("completed_at")),
        size=int(fields.get("size") or 0),
        opaque_id=bytes.fromhex(str(fields.get("opaque_id") or "")),
        manual_deletion=_flag(fields.get("manual_deletion")),
        **{name: str(fields.get(name) or "") for name in _RESULT_TEXTS},
    )


def _time(value: Any) -> float | None:
    """A number, or its decimal text (exact times from Lua), or null."""
    return None if value is None else float(value)


def _flag(value: Any) -> bool:
    return bool(value) and value != "0"


def _texts(value: Any) -> list[str]:
    # cjson writes an empty list as {}.
    return [str(v) for v in value] if isinstance(value, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    # cjson writes an empty map as [] (or {}).
    return value if isinstance(value, dict) else {}


# -- records --------------------------------------------------------------------
# The Redis state store keeps tasks and results in this very JSON (see
# ``records``), so that its Lua scripts splice stored records into events.
def task_fields(task: Task) -> dict[str, Any]:
    """The JSON object of a task snapshot (canonical: every field)."""
    return _task_fields(task)


def result_fields(result: Result) -> dict[str, Any]:
    """The JSON object of a result snapshot (canonical: every field)."""
    return _result_fields(result)


def options_fields(options: TaskOptions) -> dict[str, Any]:
    return _options_fields(options)


def task_from_fields(fields: dict[str, Any]) -> Task:
    """The task of a decoded snapshot, leniently (see the module docstring)."""
    return _task(fields)


def result_from_fields(fields: dict[str, Any]) -> Result:
    """The result of a decoded snapshot, leniently."""
    return _result(fields)


def options_from_fields(fields: Any) -> TaskOptions:
    """The task options of a decoded object (``{}`` or ``[]`` when empty)."""
    return _options(_mapping(fields))
