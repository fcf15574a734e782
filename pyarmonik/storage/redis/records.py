"""Records of the Redis state store: tasks, results and sessions as Redis
hashes, partitions as JSON.

A task is a hash whose immutable fields are one JSON ``spec`` written here
and never decoded in Lua, and whose other fields are those the Lua
functions read or change (status, owner, times...): a transition writes a
field or two instead of decoding and re-encoding a whole record (that JSON
work was most of what a task cost Redis). A new task travels to Lua as a
``task_item``; the functions store its parts as they are.

Task hash fields::

    spec        JSON: options (all of them), parent_task_ids, retry_of_ids,
                initial_task_id, created_by, created_at, pod_ttl; compact
                (a field that is empty or null is left out)
    inputs      the payload id, then the data dependencies, comma-joined
    outputs     the expected output ids, comma-joined (ids are the grid's: no comma)
    partition   priority     copies of the options' (what the queue needs)
    status      TaskStatus number
    owner host  the agent holding it, and its host
    left        inputs not COMPLETED yet (while PENDING)
    submitted_at acquired_at started_at processed_at ended_at   UNIX seconds, exact text
    message error success   status message, output error, '1' on success

Result hash fields: name, status, owner, created_by, created_at,
completed_at, size, opaque (the object key, raw bytes), manual ('1'),
waited ('1' once a task waited on it: completing one no task waited on
looks no wait up), data (small data, ``Grid.inline_limit``: kept here, not
in the object store, so that a claim, a commit and a download carry it
without another round trip; lists never read it).
Session hash fields: status, client, worker ('1'/'0': submission flags),
json (the rest: options, partition ids, created_at, owner), the ``*_at``
time of each status it entered, and what its queue entries read (its
fairness key is made of them: ``core.fair_queue``): owner, app (its default
application name), weight (its own weight, ``fairshare.WEIGHT_OPTION``),
each only when set.

A partition's fair share is a hash of its queue (``keys.FAIR``, read by
``lib_queue.lua`` when a session joins): mode, key, weight, cap (the
defaults), keyed ('1' when some key has its own), w:<key>, c:<key>; no
hash is the default configuration.

Received and fetched times are the acquired and started ones (ArmoniK sets
them together). Ids are not stored in their own records: the key holds them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pyarmonik.core import fairshare
from pyarmonik.core.models import Partition, Result, Session, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.storage.ports import Completion

_COMPACT = (",", ":")
_TASK_STATUS = {int(s): s for s in TaskStatus}
_RESULT_STATUS = {int(s): s for s in ResultStatus}
_OPTION_TEXTS = (
    "partition_id",
    "application_name",
    "application_version",
    "application_namespace",
    "application_service",
    "engine_type",
)
_SESSION_TIMES = ("cancelled_at", "closed_at", "purged_at", "deleted_at")
#: Joins the ids of a list field (ids are the grid's UUIDs: no comma).
LIST_SEP = ","
#: Joins the four parts of an application key (user text: a control character).
APP_SEP = "\x1f"
#: A HGETALL reply as redis-py returns it (bytes, without decode_responses).
Fields = Mapping[bytes, bytes]


def time_text(seconds: float) -> str:
    """Exact decimal text of a float (``repr`` round-trips), for Lua and Redis."""
    return repr(float(seconds))


def _dumps(fields: dict[str, Any]) -> str:
    """Compact JSON: a field that is null, '' or an empty list is left out."""
    return json.dumps({k: v for k, v in fields.items() if v is not None and v != "" and v != []}, separators=_COMPACT)


def _time(value: bytes | None) -> float | None:
    return None if value is None or value == b"" else float(value)


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode()


def as_fields(flat: Sequence[object]) -> dict[bytes, bytes]:
    """A flat [field, value, ...] reply (HGETALL inside a function) as a dict."""
    return dict(zip(flat[::2], flat[1::2]))  # type: ignore[arg-type]


# -- task options ---------------------------------------------------------------------
def options_fields(options: TaskOptions) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "max_duration": options.max_duration,
        "max_retries": options.max_retries,
        "priority": options.priority,
    }
    fields.update({name: getattr(options, name) for name in _OPTION_TEXTS})
    if options.options:
        fields["options"] = dict(options.options)
    return {k: v for k, v in fields.items() if v is not None and v != ""}


def options_from_fields(fields: Any) -> TaskOptions:
    if not isinstance(fields, dict):
        return TaskOptions()
    duration = fields.get("max_duration")
    return TaskOptions(
        max_duration=None if duration is None else float(duration),
        max_retries=int(fields.get("max_retries") or 0),
        priority=int(fields.get("priority") or 0),
        options={str(k): str(v) for k, v in (fields.get("options") or {}).items()},
        **{name: str(fields.get(name) or "") for name in _OPTION_TEXTS},
    )


def application_key(options: TaskOptions) -> str:
    """The application a task counts for ('' when it names none)."""
    if not options.application_name:
        return ""
    return APP_SEP.join(
        (options.application_name, options.application_version, options.application_namespace,
         options.application_service)
    )  # fmt: skip


# -- tasks ------------------------------------------------------------------------------
def task_spec(task: Task) -> str:
    """The immutable part of a task, as the JSON its hash and NEW_TASK events carry."""
    return _dumps(
        {
            "options": options_fields(task.options),
            "parent_task_ids": task.parent_task_ids,
            "retry_of_ids": task.retry_of_ids,
            "initial_task_id": task.initial_task_id,
            "created_by": task.created_by,
            "created_at": task.created_at,
            "pod_ttl": task.pod_ttl,
        }
    )


def task_item(task: Task) -> list[str]:
    """A new task as the Lua functions take it (``TASK_ITEM`` in lib_graph)."""
    return [
        task.task_id,
        task_spec(task),
        LIST_SEP.join((task.payload_id, *task.data_dependencies)),
        LIST_SEP.join(task.expected_output_ids),
        task.options.partition_id,
        str(task.options.priority),
        application_key(task.options),
        time_text(task.created_at),
    ]


def task_from_spec(
    task_id: str, session_id: str, status: TaskStatus, spec: str | bytes, inputs: str, outputs: str
) -> Task:
    """A task from the fields a NEW_TASK event or a hash carries."""
    fields = json.loads(spec)
    payload_id, *dependencies = inputs.split(LIST_SEP) if inputs else ("",)
    return Task(
        task_id=task_id,
        session_id=session_id,
        status=status,
        options=options_from_fields(fields.get("options")),
        created_at=float(fields.get("created_at") or 0.0),
        payload_id=payload_id,
        data_dependencies=dependencies,
        expected_output_ids=outputs.split(LIST_SEP) if outputs else [],
        parent_task_ids=list(fields.get("parent_task_ids") or ()),
        retry_of_ids=list(fields.get("retry_of_ids") or ()),
        initial_task_id=str(fields.get("initial_task_id") or ""),
        created_by=str(fields.get("created_by") or ""),
        pod_ttl=None if fields.get("pod_ttl") is None else float(fields["pod_ttl"]),
    )


def decode_task(task_id: str, session_id: str, fields: Fields) -> Task:
    """The task of its hash (HGETALL)."""
    task = task_from_spec(
        task_id,
        session_id,
        _TASK_STATUS[int(fields[b"status"])],
        fields[b"spec"],
        _text(fields.get(b"inputs")),
        _text(fields.get(b"outputs")),
    )
    task.status_message = _text(fields.get(b"message"))
    task.owner_pod_id = _text(fields.get(b"owner"))
    task.pod_hostname = _text(fields.get(b"host"))
    task.submitted_at = _time(fields.get(b"submitted_at"))
    task.acquired_at = task.received_at = _time(fields.get(b"acquired_at"))
    task.started_at = task.fetched_at = _time(fields.get(b"started_at"))
    task.processed_at = _time(fields.get(b"processed_at"))
    task.ended_at = _time(fields.get(b"ended_at"))
    task.output_success = fields.get(b"success") == b"1"
    task.output_error = _text(fields.get(b"error"))
    return task


# -- results ----------------------------------------------------------------------------
def result_item(result: Result, data: bytes | None = None) -> list[str | bytes]:
    """A new result as the Lua functions take it (``RESULT_ITEM`` in
    lib_graph), with its small data when given (kept in its record)."""
    return [
        result.result_id,
        result.name,
        str(int(result.status)),
        time_text(result.created_at),
        result.created_by,
        result.owner_task_id,
        "1" if result.manual_deletion else "0",
        str(result.size),
        result.opaque_id,
        "0" if data is None else "1",
        b"" if data is None else data,
    ]


def completion_item(completion: Completion) -> list[str | bytes]:
    """A completion as the Lua functions take it (``COMPLETION_ITEM`` in lib_graph)."""
    inline = completion.data is not None
    return [completion.result_id, str(completion.size), completion.opaque_id, "1" if inline else "0",
            completion.data if inline else b""]  # type: ignore[list-item]  # fmt: skip


#: What ``pa_get`` returns of a result, in this order (``RESULT_FIELDS`` of fn_control).
RESULT_FIELDS = (b"status", b"name", b"owner", b"created_by", b"created_at", b"completed_at", b"size", b"opaque",
                 b"manual")  # fmt: skip


def result_fields(values: Sequence[object]) -> Fields:
    """The fields of a result read by ``pa_get`` (values in RESULT_FIELDS order)."""
    return {name: value for name, value in zip(RESULT_FIELDS, values) if value is not None}  # type: ignore[misc]


def decode_result(result_id: str, session_id: str, fields: Fields) -> Result:
    """The result of its hash's fields (without its small data)."""
    return Result(
        session_id=session_id,
        result_id=result_id,
        name=_text(fields.get(b"name")),
        status=_RESULT_STATUS[int(fields[b"status"])],
        created_at=float(fields.get(b"created_at") or 0.0),
        owner_task_id=_text(fields.get(b"owner")),
        created_by=_text(fields.get(b"created_by")),
        completed_at=_time(fields.get(b"completed_at")),
        size=int(fields.get(b"size") or 0),
        opaque_id=fields.get(b"opaque") or b"",
        manual_deletion=fields.get(b"manual") == b"1",
    )


# -- sessions ---------------------------------------------------------------------------
def session_fields(session: Session) -> list[str]:
    """status, client, worker, json: the arguments pa_create_session stores."""
    rest = {
        "options": options_fields(session.options),
        "partition_ids": list(session.partition_ids),
        "created_at": session.created_at,
        "owner": session.owner,
    }
    return [
        str(int(session.status)),
        "1" if session.client_submission else "0",
        "1" if session.worker_submission else "0",
        json.dumps(rest, separators=_COMPACT),
    ]


def session_queue_fields(session: Session) -> list[str]:
    """The plain fields (name, value, ...) its queue entries read, the set ones only."""
    weight = fairshare.session_weight(session.options.options)
    fields = {
        "owner": session.owner,
        "app": session.options.application_name,
        "weight": "" if weight is None else repr(weight),
    }
    return [part for name, value in fields.items() if value for part in (name, value)]


def decode_session(session_id: str, fields: Fields) -> Session:
    rest = json.loads(fields[b"json"])
    return Session(
        session_id=session_id,
        status=SessionStatus(int(fields[b"status"])),
        options=options_from_fields(rest.get("options")),
        partition_ids=[str(p) for p in rest.get("partition_ids") or ()],
        created_at=float(rest.get("created_at") or 0.0),
        client_submission=fields.get(b"client", b"1") == b"1",
        worker_submission=fields.get(b"worker", b"1") == b"1",
        owner=str(rest.get("owner") or ""),
        **{name: _time(fields.get(name.encode())) for name in _SESSION_TIMES},
    )


# -- partitions -------------------------------------------------------------------------
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
        parent_partition_ids=[str(p) for p in fields.get("parent_partition_ids") or ()],
        pod_reserved=int(fields.get("pod_reserved", 1)),
        pod_max=int(fields.get("pod_max", 1)),
        preemption_percentage=int(fields.get("preemption_percentage", 0)),
        priority=int(fields.get("priority", 1)),
        pod_configuration={str(k): str(v) for k, v in (fields.get("pod_configuration") or {}).items()},
    )


# -- fair share -------------------------------------------------------------------------
def fair_share_fields(config: fairshare.FairShare) -> dict[str, str]:
    """The hash of a partition's fair share (``keys.FAIR``); ``{}`` for the default."""
    if config == fairshare.DEFAULT:
        return {}
    fields = {"mode": config.mode, "key": config.key, "weight": repr(config.default_weight)}
    if config.default_cap is not None:
        fields["cap"] = str(config.default_cap)
    for key, weight in config.weights.items():
        fields[f"w:{key}"] = repr(weight)
    for key, cap in config.caps.items():
        fields[f"c:{key}"] = str(cap)
    if config.weights or config.caps:
        fields["keyed"] = "1"
    return fields


def decode_fair_share(fields: Fields) -> fairshare.FairShare:
    if not fields:
        return fairshare.DEFAULT
    text = {k.decode(): v.decode() for k, v in fields.items()}
    weights = {k[2:]: float(v) for k, v in text.items() if k.startswith("w:")}
    caps = {k[2:]: int(v) for k, v in text.items() if k.startswith("c:")}
    return fairshare.FairShare(
        mode=text.get("mode", "fair"),
        key=text.get("key", "session"),
        default_weight=float(text.get("weight", 1.0)),
        weights=weights,
        default_cap=int(text["cap"]) if "cap" in text else None,
        caps=caps,
    )
