"""JSON records of the Redis state store: tasks, results, sessions, partitions.

Tasks and results are stored in the JSON of ``codec`` (the event wire
format), so that a Lua script splices a stored record into an event without
re-encoding it. Records are compact: a field that is null, '' or an empty
list or map is left out, as the Lua encoder (``lua/state_lib_records.lua``) does too;
every decoder reads a missing field as the model's default. Compact records
are what keeps listing 100,000 tasks cheap: half the bytes, a third of the
keys to parse.

The decoders here build the dataclasses straight from the stored fields (the
attribute names of ``pyarmonik.core.models``), falling back to ``codec``'s
lenient decoder for anything unexpected.
"""

from __future__ import annotations

import json
from typing import Any

from pyarmonik.core.models import Partition, Result, Session, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.storage.redis import codec

_COMPACT = (",", ":")
_SESSION_TIMES = ("cancelled_at", "closed_at", "purged_at", "deleted_at")
_TASK_STATUS = {int(s): s for s in TaskStatus}
_RESULT_STATUS = {int(s): s for s in ResultStatus}


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None and v != "" and v != [] and v != {}}


def _dumps(fields: dict[str, Any]) -> str:
    return json.dumps(_compact(fields), separators=_COMPACT)


# -- tasks --------------------------------------------------------------------------
def encode_task(task: Task) -> str:
    fields = codec.task_fields(task)
    fields["options"] = _compact(fields["options"])
    return _dumps(fields)


def task_from_fields(fields: dict[str, Any]) -> Task:
    """The task of freshly decoded JSON fields (which it may modify)."""
    status, options = fields.get("status"), fields.get("options")
    try:
        fields["status"] = _TASK_STATUS[status]  # type: ignore[index]
        fields["options"] = TaskOptions(**options) if options else TaskOptions()
        return Task(**fields)
    except (KeyError, TypeError, ValueError):
        fields["status"], fields["options"] = status, options
        return codec.task_from_fields(fields)


def decode_task(data: str | bytes) -> Task:
    return task_from_fields(json.loads(data))


# -- results ------------------------------------------------------------------------
def encode_result(result: Result) -> str:
    return _dumps(codec.result_fields(result))


def result_from_fields(fields: dict[str, Any]) -> Result:
    """The result of freshly decoded JSON fields (which it may modify)."""
    status, opaque_id = fields.get("status"), fields.get("opaque_id", "")
    try:
        fields["status"] = _RESULT_STATUS[status]  # type: ignore[index]
        fields["opaque_id"] = bytes.fromhex(opaque_id)
        return Result(**fields)
    except (KeyError, TypeError, ValueError):
        fields["status"], fields["opaque_id"] = status, opaque_id
        return codec.result_from_fields(fields)


def decode_result(data: str | bytes) -> Result:
    return result_from_fields(json.loads(data))


def _texts(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _time(value: Any) -> float | None:
    return None if value is None else float(value)


# -- sessions -----------------------------------------------------------------------
def encode_session(session: Session) -> str:
    fields: dict[str, Any] = {
        "session_id": session.session_id,
        "status": int(session.status),
        "options": _compact(codec.options_fields(session.options)),
        "partition_ids": list(session.partition_ids),
        "created_at": session.created_at,
        "client_submission": session.client_submission,
        "worker_submission": session.worker_submission,
        "owner": session.owner,
    }
    fields.update({name: getattr(session, name) for name in _SESSION_TIMES})
    return _dumps(fields)


def decode_session(data: str | bytes) -> Session:
    fields = json.loads(data)
    return Session(
        session_id=str(fields["session_id"]),
        status=SessionStatus(int(fields["status"])),
        options=codec.options_from_fields(fields.get("options")),
        partition_ids=_texts(fields.get("partition_ids")),
        created_at=float(fields.get("created_at") or 0.0),
        client_submission=bool(fields.get("client_submission", True)),
        worker_submission=bool(fields.get("worker_submission", True)),
        owner=str(fields.get("owner") or ""),  # absent from records written before owners were
        **{name: _time(fields.get(name)) for name in _SESSION_TIMES},
    )


# -- partitions ---------------------------------------------------------------------
def encode_partition(partition: Partition) -> str:
    return json.dumps(
        {
            "partition_id": partition.partition_id,
            "parent_partition_ids": list(partition.parent_partition_ids),
            "pod_reserved": partition.pod_reserved,
            "pod_max": partition.pod_max,
            "preemption_percentage": partition.preemption_percentage,
            "priority": partition.priority,
            "pod_configuration": dict(partition.pod_configuration),
        },
        separators=_COMPACT,
    )


def decode_partition(data: str | bytes) -> Partition:
    fields = json.loads(data)
    return Partition(
        partition_id=str(fields["partition_id"]),
        parent_partition_ids=_texts(fields.get("parent_partition_ids")),
        pod_reserved=int(fields.get("pod_reserved", 1)),
        pod_max=int(fields.get("pod_max", 1)),
        preemption_percentage=int(fields.get("preemption_percentage", 0)),
        priority=int(fields.get("priority", 1)),
        pod_configuration={str(k): str(v) for k, v in (fields.get("pod_configuration") or {}).items()},
    )
