"""Every Redis key and channel name of pyarmonik, in one place.

Keys that one script touches together share a hash tag (the part in braces)
so that they live in one Redis Cluster slot: all the keys of a partition
queue are tagged ``{partition_id}``, all the keys of a session
``{session_id}``. The one deliberate exception is the agent's hot path
(``dispatch``, ``lua/dispatch_*.lua``): a claim pops from a partition queue
and writes the state of the popped tasks' sessions, and a finish writes a
session, acks a lease and pushes onto any partition, in ONE script each,
which names those keys itself from ids (rebuilding the names below; a test
checks they agree). Decision: PyArmoniK runs on a single-primary Redis (the
operator deploys one, ``local`` starts one), where a script may touch any
key; two round trips per task instead of fifteen are worth giving up Redis
Cluster, which would need these steps split again per slot. Untagged keys are global indexes that no script touches
(the registry of partition queues, read by the reaper, and those below).

Layout (``P`` a partition id, ``S`` a session id)::

    pyarmonik:queues                  SET   ids of the partitions ever pushed to (for the reaper)
    pyarmonik:queue:{P}:seq           STR   INCR counter: FIFO order inside a priority
    pyarmonik:queue:{P}:ready         ZSET  "<seq>:<item json>" by -priority * 2**40 + seq
    pyarmonik:queue:{P}:leases        HASH  lease token -> JSON [member, score, agent id, expires at]
    pyarmonik:queue:{P}:expiry        ZSET  lease token by expiry time (UNIX seconds)
    pyarmonik:queue:{P}:wake          LIST  wake-up tokens that waiting pops BLPOP on
    pyarmonik:queue:{P}:reply:<id>    STR   the reply of one push, pop or reap call, kept 30 s
    pyarmonik:session:{S}:events      pub/sub channel of the session's events (``codec`` JSON)

State store (``state.py``; records are ``records``/``codec`` JSON)::

    pyarmonik:sessions                ZSET  session ids by creation time
    pyarmonik:task-sessions           HASH  task id -> session id
    pyarmonik:result-sessions         HASH  result id -> session id
    pyarmonik:partitions              HASH  partition id -> partition JSON
    pyarmonik:session:{S}:record      STR   the session JSON
    pyarmonik:session:{S}:tasks       HASH  task id -> task JSON
    pyarmonik:session:{S}:results     HASH  result id -> result JSON
    pyarmonik:session:{S}:waiting     ZSET  "<result id>\\0<task id>" (score 0): who waits on what
    pyarmonik:session:{S}:remaining   HASH  task id -> JSON array of the result ids it still awaits
    pyarmonik:session:{S}:task-statuses    ZSET  task id by TaskStatus (tasks in a status, counts)
    pyarmonik:session:{S}:result-statuses  ZSET  result id by ResultStatus
    pyarmonik:session:{S}:counts           HASH  "task:<TaskStatus>:<partition id>" -> tasks,
                                                  "result:<ResultStatus>" -> results (HINCRBY by the scripts)
    pyarmonik:session:{S}:task-ids         ZSET  task id, score 0: the tasks in id order (list pages)
    pyarmonik:session:{S}:task-created     ZSET  task id by created_at: the tasks in creation order
    pyarmonik:session:{S}:reply:<id>       STR   the reply of one state script call, kept 30 s

A script call's reply key (``scripts.request_key``) lets a call that
redis-py sends again after a broken connection get the first run's reply
instead of being applied twice (``lua/replay.lua``).

The four untagged state keys are global indexes, written outside the
scripts: before the script that creates the records they point to, and
after the one that deletes them, so that an entry without its record
(after a refused or interrupted creation) only ever reads as NotFound.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "pyarmonik"
QUEUE_REGISTRY = f"{PREFIX}:queues"


def is_taggable(value: str) -> bool:
    """Whether an id can be a hash tag. A brace inside it would move the tag
    and split the keys of one queue or session across slots, so no stored
    queue or session has one: such an id names nothing."""
    return "{" not in value and "}" not in value


def _tag(value: str) -> str:
    # Refused rather than corrupting silently (see ``is_taggable``).
    if not is_taggable(value):
        raise ValueError(f"identifier {value!r} may not contain braces: it is used as a Redis hash tag")
    return "{" + value + "}"


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one partition queue, in the order the Lua scripts take them."""

    sequence: str
    ready: str
    leases: str
    expiry: str
    wake: str
    #: Prefix of the reply keys of its scripts' calls.
    replies: str


def queue(partition_id: str) -> QueueKeys:
    base = f"{PREFIX}:queue:{_tag(partition_id)}"
    return QueueKeys(
        sequence=f"{base}:seq",
        ready=f"{base}:ready",
        leases=f"{base}:leases",
        expiry=f"{base}:expiry",
        wake=f"{base}:wake",
        replies=f"{base}:reply:",
    )


def session_events(session_id: str) -> str:
    """The pub/sub channel carrying the events of one session."""
    return f"{PREFIX}:session:{_tag(session_id)}:events"


# -- state store ----------------------------------------------------------------
SESSIONS = f"{PREFIX}:sessions"
TASK_SESSIONS = f"{PREFIX}:task-sessions"
RESULT_SESSIONS = f"{PREFIX}:result-sessions"
PARTITIONS = f"{PREFIX}:partitions"


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The keys of one session's state; ``all`` in the order every
    ``lua/state_*.lua`` script takes them."""

    record: str
    tasks: str
    results: str
    waiting: str
    remaining: str
    task_statuses: str
    result_statuses: str
    counts: str
    task_ids: str
    task_created: str
    events: str
    #: Prefix of the reply keys of its scripts' calls (not in ``all``: one per call).
    replies: str

    @property
    def all(self) -> tuple[str, ...]:
        return (
            self.record,
            self.tasks,
            self.results,
            self.waiting,
            self.remaining,
            self.task_statuses,
            self.result_statuses,
            self.counts,
            self.task_ids,
            self.task_created,
        )


def session(session_id: str) -> SessionKeys:
    base = f"{PREFIX}:session:{_tag(session_id)}"
    return SessionKeys(
        record=f"{base}:record",
        tasks=f"{base}:tasks",
        results=f"{base}:results",
        waiting=f"{base}:waiting",
        remaining=f"{base}:remaining",
        task_statuses=f"{base}:task-statuses",
        result_statuses=f"{base}:result-statuses",
        counts=f"{base}:counts",
        task_ids=f"{base}:task-ids",
        task_created=f"{base}:task-created",
        events=session_events(session_id),
        replies=f"{base}:reply:",
    )


def object_key(key: str) -> str:
    """A small object's data (``objects.RedisObjectStore``): STR."""
    return f"{PREFIX}:object:{key}"
