"""Wire format of events on Redis pub/sub.

The producers of a session's channel (``keys.session_events``) are the Lua
functions of the Redis state store, which PUBLISH the events of a
transition in the same call that commits it, so that subscribers on every
control-plane replica see changes committed anywhere; ``encode_events``
writes the same format from Python (tests publish with it). One message
carries every event of one call for one session, one line each
(``\\n``-separated)::

    <kind>\\t<status>\\t<id>\\t<a>\\t<b>\\t<body>

``kind`` is the EventKind's API number; ``status`` and ``id`` are the
task's (NEW_TASK, TASK_STATUS_UPDATE) or the result's (the other kinds).
The other fields depend on the kind:

- NEW_TASK: ``a`` the task's inputs (payload first), ``b`` its expected
  outputs (comma-joined ids), ``body`` its spec JSON (``records.task_spec``):
  the whole task as created;
- NEW_RESULT: ``b`` its owner, ``body`` its name;
- RESULT_OWNER_UPDATE: ``a`` the previous owner, ``b`` the new one;
- TASK_STATUS_UPDATE, RESULT_STATUS_UPDATE: nothing but id and status.

A status update carries no record: Lua never encodes one (that was most of
what a task cost Redis). A subscriber reads the kind first and skips the
lines it does not want; its events hold records with the fields above and
every other field at its default (``EventBus.subscribe``'s light records),
which is all the Events API sends. Ids hold no tab, newline or comma (the
grid makes them). The session is the channel's.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

from pyarmonik.core.models import Event, Result, Task, TaskOptions
from pyarmonik.core.statuses import EventKind, ResultStatus, TaskStatus
from pyarmonik.storage.redis import records

_SEPARATORS = frozenset("\t\n")
_KINDS = {int(k): k for k in EventKind}
_TASK_STATUS = {int(s): s for s in TaskStatus}
_RESULT_STATUS = {int(s): s for s in ResultStatus}


# -- encoding (tests, and anything that publishes from Python) -------------------------------
def encode_events(events: Sequence[Event]) -> str:
    """One message carrying ``events`` in order (see the module docstring)."""
    return "\n".join(_line(event) for event in events)


def encode_event(event: Event) -> str:
    return encode_events([event])


def _line(event: Event) -> str:
    a = b = body = ""
    if event.task is not None:
        task = event.task
        status, id_ = int(task.status), task.task_id
        if event.kind is EventKind.NEW_TASK:
            item = records.task_item(task)
            a, b, body = item[2], item[3], item[1]
    elif event.result is not None:
        result = event.result
        status, id_ = int(result.status), result.result_id
        if event.kind is EventKind.NEW_RESULT:
            b, body = result.owner_task_id, result.name
        elif event.kind is EventKind.RESULT_OWNER_UPDATE:
            a, b = event.previous_owner_id, event.current_owner_id
    else:
        status, id_ = 0, event.session_id  # an event about no record names its session
    parts = (str(int(event.kind)), str(status), id_, a, b, body)
    if any(_SEPARATORS.intersection(part) for part in parts[:5]) or "\n" in body:
        raise ValueError(f"an event field holds a tab or a newline: {parts!r:.200}")
    return "\t".join(parts)


# -- decoding --------------------------------------------------------------------------------
def decode_events(data: str | bytes, session_id: str, *, kinds: Container[EventKind] | None = None) -> list[Event]:
    """The events of one message of ``session_id``'s channel, those of
    ``kinds`` only (every kind when ``None``): the other lines are skipped
    unread. ``ValueError`` when a line is not an event."""
    text = data.decode() if isinstance(data, bytes) else data
    found = []
    for line in text.split("\n"):
        parts = line.split("\t", 5)
        if len(parts) != 6:
            raise ValueError(f"not an event: {line!r:.200}")
        try:
            kind = _KINDS[int(parts[0])]
            if kinds is not None and kind not in kinds:
                continue
            found.append(_event(kind, parts, session_id))
        except (KeyError, ValueError):  # an unknown kind or status, a field that is not a number
            raise ValueError(f"not an event: {line!r:.200}") from None
    return found


def decode_event(data: str | bytes, session_id: str = "") -> Event:
    """The one event of a message; ``ValueError`` when it is not one."""
    events = decode_events(data, session_id)
    if len(events) != 1:
        raise ValueError(f"not one event: {data!r:.200}")
    return events[0]


def _event(kind: EventKind, parts: list[str], session_id: str) -> Event:
    _, status, id_, a, b, body = parts
    if kind is EventKind.NEW_TASK:
        task = records.task_from_spec(id_, session_id, _TASK_STATUS[int(status)], body, a, b)
        return Event(kind, session_id, task=task)
    if kind is EventKind.TASK_STATUS_UPDATE:
        return Event(kind, session_id, task=skeleton_task(id_, session_id, _TASK_STATUS[int(status)]))
    if kind in (EventKind.NEW_RESULT, EventKind.RESULT_STATUS_UPDATE, EventKind.RESULT_OWNER_UPDATE):
        result = Result(session_id=session_id, result_id=id_, name=body if kind is EventKind.NEW_RESULT else "",
                        status=_RESULT_STATUS[int(status)], created_at=0.0, owner_task_id=b)  # fmt: skip
        if kind is EventKind.RESULT_OWNER_UPDATE:
            return Event(kind, session_id, result=result, previous_owner_id=a, current_owner_id=b)
        return Event(kind, session_id, result=result)
    return Event(kind, session_id or id_)


def skeleton_task(task_id: str, session_id: str, status: TaskStatus) -> Task:
    return Task(task_id, session_id, status, TaskOptions(), created_at=0.0, payload_id="")
