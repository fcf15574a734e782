"""JSON records of the Redis state store: tasks, results, sessions, partitions.

Tasks and results are stored in the very JSON of ``codec`` (the event wire
format), so that a Lua script can splice a stored record into an event
without re-encoding it. Sessions and partitions follow the same rules:
attribute names of ``pyarmonik.core.models``, times as UNIX seconds, and a
lenient decoder (the Lua encoder of ``lua/state_lib.lua`` may write an
integral time as ``1000`` or an empty list as ``[]``/``{}``).
"""

from __future__ import annotations

import json
from typing import Any

from pyarmonik.core.models import Partition, Result, Session, Task
from pyarmonik.core.statuses import SessionStatus
from pyarmonik.storage.redis import codec

_COMPACT = (",", ":")
_SESSION_TIMES = ("cancelled_at", "closed_at", "purged_at", "deleted_at")


def _dumps(fields: dict[str, Any]) -> str:
    return json.dumps(fields, separators=_COMPACT)


def encode_task(task: Task) -> str:
    return _dumps(codec._task_fields(task))


def decode_task(data: str | bytes) -> Task:
    return codec._task(json.loads(data))


def encode_result(result: Result) -> str:
    return _dumps(codec._result_fields(result))


def decode_result(data: str | bytes) -> Result:
    return codec._result(json.loads(data))


def encode_session(session: Session) -> str:
    fields: dict[str, Any] = {
        "session_id": session.session_id,
        "status": int(session.status),
        "options": codec._options_fields(session.options),
        "partition_ids": list(session.partition_ids),
        "created_at": session.created_at,
        "client_submission": session.client_submission,
        "worker_submission": session.worker_submission,
    }
    fields.update({name: getattr(session, name) for name in _SESSION_TIMES})
    return _dumps(fields)


def decode_session(data: str | bytes) -> Session:
    fields = json.loads(data)
    return Session(
        session_id=str(fields["session_id"]),
        status=SessionStatus(int(fields["status"])),
        options=codec._options(codec._mapping(fields.get("options"))),
        partition_ids=codec._texts(fields.get("partition_ids")),
        created_at=codec._time(fields.get("created_at")) or 0.0,
        client_submission=codec._flag(fields.get("client_submission", True)),
        worker_submission=codec._flag(fields.get("worker_submission", True)),
        **{name: codec._time(fields.get(name)) for name in _SESSION_TIMES},
    )


def encode_partition(partition: Partition) -> str:
    return _dumps(
        {
            "partition_id": partition.partition_id,
            "parent_partition_ids": list(partition.parent_partition_ids),
            "pod_reserved": partition.pod_reserved,
            "pod_max": partition.pod_max,
            "preemption_percentage": partition.preemption_percentage,
            "priority": partition.priority,
            "pod_configuration": dict(partition.pod_configuration),
        }
    )


def decode_partition(data: str | bytes) -> Partition:
    fields = json.loads(data)
    return Partition(
        partition_id=str(fields["partition_id"]),
        parent_partition_ids=codec._texts(fields.get("parent_partition_ids")),
        pod_reserved=int(fields.get("pod_reserved", 1)),
        pod_max=int(fields.get("pod_max", 1)),
        preemption_percentage=int(fields.get("preemption_percentage", 0)),
        priority=int(fields.get("priority", 1)),
        pod_configuration={str(k): str(v) for k, v in codec._mapping(fields.get("pod_configuration")).items()},
    )
