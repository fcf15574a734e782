"""Every Redis key and channel name of pyarmonik, in one place.

Each name is a ``Template`` with named parts; Python builds names with it,
and the Lua library (``library``) gets a function per template generated
from the same text (``lua_key_functions``), so no key pattern is written
twice.

Hash tags (the part in braces) group what one session or one partition
queue owns. The scripts of the hot path span a partition queue AND the
sessions of its tasks in one atomic step (a claim pops a task and writes its
state; a finish writes an outcome and queues what it made ready), so
PyArmoniK runs on a single-primary Redis (what the operator deploys and
``local`` starts), never on Redis Cluster: two round trips per task instead
of fifteen are worth it (``docs/agent-hot-path.md``).

Layout (``P`` a partition id, ``L`` a priority, ``S`` a session id, ``T`` a
task id, ``R`` a result id)::

    pyarmonik:sessions                    ZSET  S by creation time
    pyarmonik:task-sessions               HASH  T -> S (a task id alone names no session)
    pyarmonik:result-sessions             HASH  R -> S
    pyarmonik:partitions                  HASH  P -> partition JSON
    pyarmonik:applications                HASH  application ("name\\x1fversion\\x1fnamespace\\x1fservice") -> tasks
    pyarmonik:result-counts               HASH  ResultStatus -> results (of every session)
    pyarmonik:queues                      SET   partitions ever queued on (for the reaper)

    pyarmonik:session:{S}:record          HASH  status, client, worker, json (the rest), *_at
    pyarmonik:task:{S}:T                  HASH  one task (``records``): spec JSON + the fields scripts change
    pyarmonik:result:{S}:R                HASH  one result
    pyarmonik:session:{S}:waiting         ZSET  "R\\0T" (score 0): who waits on what, by lexicographic range
    pyarmonik:session:{S}:task-statuses   ZSET  T by TaskStatus (tasks in a status, counts)
    pyarmonik:session:{S}:result-statuses ZSET  R by ResultStatus
    pyarmonik:session:{S}:task-ids        ZSET  T, score 0: the tasks in id order (list pages)
    pyarmonik:session:{S}:task-created    ZSET  T by created_at
    pyarmonik:session:{S}:result-ids      ZSET  R, score 0: the results in id order
    pyarmonik:session:{S}:queued          HASH  "P\\tL" -> the rotation entry serving its ready list there
    pyarmonik:session:{S}:apps            HASH  application -> its tasks in the session
    pyarmonik:session:{S}:events          pub/sub channel of the session's events (``codec``)
    pyarmonik:session:{S}:reply:<id>      STR   the reply of one call, kept 30 s (``library``)

    pyarmonik:queue:{P}:rotation          ZSET  one entry per priority L and fairness key with ready tasks,
                                                by -L * 2^32 + virtual time (lua/lib_queue.lua): "L\\tS" for
                                                a plain session, "L\\t\\1<kind><stride>,<cap>\\t<key>" else
    pyarmonik:queue:{P}:ready:L:S         LIST  ready task ids of session S at priority L, FIFO
    pyarmonik:queue:{P}:fair              HASH  the partition's fair share: mode, key, weight, cap, keyed,
                                                w:<key>, c:<key> (records.fair_share_fields); none: defaults
    pyarmonik:queue:{P}:sessions:L:K      LIST  the sessions of key K (kind + key) at L, served in turn
    pyarmonik:queue:{P}:key-entries       HASH  "L\\tK" -> the rotation entry of key K at L
    pyarmonik:queue:{P}:running           HASH  K -> running tasks of a capped key K
    pyarmonik:queue:{P}:parked:K          SET   the rotation entries of key K, out of it while K is at its cap
    pyarmonik:queue:{P}:counts            HASH  TaskStatus -> tasks of the partition (SUBMITTED: its runnable depth)
    pyarmonik:queue:{P}:leases            ZSET  "S\\tT" by lease expiry (UNIX seconds)
    pyarmonik:queue:{P}:wake              LIST  wake-up tokens that waiting claims BLPOP on
    pyarmonik:queue:{P}:claim:<token>     STR   the tasks one claim took, kept 30 s (``library``)
"""

from __future__ import annotations

import string
from dataclasses import dataclass

PREFIX = "pyarmonik"


def is_taggable(value: str) -> bool:
    """Whether an id can be a hash tag. A brace inside it would move the tag
    and split the keys of one queue or session across slots, so no stored
    queue or session has one: such an id names nothing."""
    return "{" not in value and "}" not in value


@dataclass(frozen=True, slots=True)
class Template:
    """One kind of key: ``pattern`` is a ``str.format`` text whose fields
    are the parts (``{session}``); ``{{`` and ``}}`` are literal braces."""

    name: str
    pattern: str

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(field for _, field, _, _ in string.Formatter().parse(self.pattern) if field)

    @property
    def tagged(self) -> str | None:
        """The part that is the hash tag (the one written between braces)."""
        for literal, field, _, _ in string.Formatter().parse(self.pattern):
            if field and literal.endswith("{"):
                return field
        return None

    def __call__(self, *values: str) -> str:
        named = dict(zip(self.parts, values, strict=True))
        tag = self.tagged
        # Refused rather than corrupting silently (see ``is_taggable``).
        if tag is not None and not is_taggable(named[tag]):
            raise ValueError(f"identifier {named[tag]!r} may not contain braces: it is used as a Redis hash tag")
        return self.pattern.format(**named)

    def lua(self) -> str:
        """``local function k_<name>(<parts>) return '<text>' .. part .. ... end``."""
        pieces: list[str] = []
        literal_run = ""
        for literal, field, _, _ in string.Formatter().parse(self.pattern):
            literal_run += literal
            if field:
                if literal_run:
                    pieces.append(_lua_string(literal_run))
                    literal_run = ""
                pieces.append(field)
        if literal_run:
            pieces.append(_lua_string(literal_run))
        return f"local function k_{self.name}({', '.join(self.parts)}) return {' .. '.join(pieces)} end"


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _t(name: str, pattern: str) -> Template:
    return Template(name, pattern.replace("@", PREFIX))


# -- global ---------------------------------------------------------------------
SESSIONS_T = _t("sessions", "@:sessions")
TASK_SESSIONS_T = _t("task_sessions", "@:task-sessions")
RESULT_SESSIONS_T = _t("result_sessions", "@:result-sessions")
PARTITIONS_T = _t("partitions", "@:partitions")
APPLICATIONS_T = _t("applications", "@:applications")
RESULT_COUNTS_T = _t("result_counts", "@:result-counts")
QUEUES_T = _t("queues", "@:queues")
SETTLING_T = _t("settling", "@:settling")

# -- one session ----------------------------------------------------------------
SESSION = _t("session", "@:session:{{{session}}}:record")
TASK = _t("task", "@:task:{{{session}}}:{task}")
RESULT = _t("result", "@:result:{{{session}}}:{result}")
WAITING = _t("waiting", "@:session:{{{session}}}:waiting")
TASK_STATUSES = _t("task_statuses", "@:session:{{{session}}}:task-statuses")
RESULT_STATUSES = _t("result_statuses", "@:session:{{{session}}}:result-statuses")
TASK_IDS = _t("task_ids", "@:session:{{{session}}}:task-ids")
TASK_CREATED = _t("task_created", "@:session:{{{session}}}:task-created")
RESULT_IDS = _t("result_ids", "@:session:{{{session}}}:result-ids")
QUEUED = _t("queued", "@:session:{{{session}}}:queued")
SESSION_APPS = _t("session_apps", "@:session:{{{session}}}:apps")
EVENTS = _t("events", "@:session:{{{session}}}:events")
SESSION_REPLY = _t("session_reply", "@:session:{{{session}}}:reply:{request}")

# -- one partition queue --------------------------------------------------------
ROTATION = _t("rotation", "@:queue:{{{partition}}}:rotation")
READY = _t("ready", "@:queue:{{{partition}}}:ready:{level}:{session}")
FAIR = _t("fair", "@:queue:{{{partition}}}:fair")
KEY_SESSIONS = _t("key_sessions", "@:queue:{{{partition}}}:sessions:{level}:{key}")
KEY_ENTRIES = _t("key_entries", "@:queue:{{{partition}}}:key-entries")
RUNNING = _t("running", "@:queue:{{{partition}}}:running")
PARKED = _t("parked", "@:queue:{{{partition}}}:parked:{key}")
COUNTS = _t("counts", "@:queue:{{{partition}}}:counts")
LEASES = _t("leases", "@:queue:{{{partition}}}:leases")
REAPED = _t("reaped", "@:queue:{{{partition}}}:reaped")
REAP_REPLY = _t("reap_reply", "@:queue:{{{partition}}}:reap:{request}")
WAKE = _t("wake", "@:queue:{{{partition}}}:wake")
CLAIM = _t("claim", "@:queue:{{{partition}}}:claim:{token}")

TEMPLATES: tuple[Template, ...] = tuple(v for v in dict(globals()).values() if isinstance(v, Template))

SESSIONS = SESSIONS_T()
TASK_SESSIONS = TASK_SESSIONS_T()
RESULT_SESSIONS = RESULT_SESSIONS_T()
PARTITIONS = PARTITIONS_T()
APPLICATIONS = APPLICATIONS_T()
RESULT_COUNTS = RESULT_COUNTS_T()
QUEUE_REGISTRY = QUEUES_T()
SETTLING = SETTLING_T()


def lua_key_functions() -> str:
    """The Lua text of one ``k_<name>`` function per template."""
    return "\n".join(t.lua() for t in TEMPLATES)


def session_events(session_id: str) -> str:
    """The pub/sub channel carrying the events of one session."""
    return EVENTS(session_id)
