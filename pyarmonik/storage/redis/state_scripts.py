"""The Lua transitions of the Redis state store, and their replies as errors.

Each ``lua/state_<name>.lua`` is one atomic transition of one session; the
shared prelude (``lua/state_lib_records.lua``: the record encoder, cache
and events; ``lua/state_lib_graph.lua``: the dependency graph and the
transitions) is prepended to each before registration. Every state
script takes the ten keys of its session and starts its ARGV with the
session's event channel, the caller's time and the session id; it answers
``{'OK', ...}`` or an error table, which ``run`` raises as the matching
``pyarmonik.core.errors`` exception, so a script that refuses has written
nothing.

Every state script writes, so each is ``scripts.replayable``: a call takes
a fresh reply key of its session as its eleventh key, and a call redis-py
sends again after a broken connection gets the first run's reply.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from pyarmonik.core import errors
from pyarmonik.storage.redis import keys, scripts

STATE_SCRIPTS = (
    "create_session",
    "update_session",
    "delete_session",
    "create_results",
    "complete_results",
    "delete_results_data",
    "create_tasks",
    "cancel_tasks",
    "cancel_session_tasks",
    "abort_outputs",
    "abort_session_results",
    "move_session_tasks",
    "acquire_task",
    "start_task",
    "park_task",
    "finish_cancellation",
    "commit_task",
    "fail_task",
    "retry_task",
    "release_task",
)

PRELUDE = ("state_lib_records", "state_lib_graph", "state_lib_agent")

Arg = str | bytes | int | float
Reply = list[object]


def text(value: object) -> str:
    """A reply element as text, whatever the client's ``decode_responses``."""
    return value.decode() if isinstance(value, bytes) else str(value)


def source(name: str) -> str:
    """The full text of state script ``name``: the prelude, then its body,
    applied once per request."""
    prelude = "\n".join(scripts.source(part) for part in PRELUDE)
    return scripts.replayable(scripts.source(f"state_{name}"), prelude=prelude)


def error(reply: Reply) -> errors.PyArmoniKError:
    code, *rest = [text(part) for part in reply]
    if code == "NOT_FOUND":
        kind, *ids = rest
        return errors.missing(kind, ids)
    if code == "NOT_HELD":
        task_id, status, owner, agent_id = rest
        if owner == agent_id:  # its lease expired and the task moved on (retried, re-queued) without it
            return errors.NotHeld(f"task {task_id} is {status}: agent {agent_id} lost it (its lease expired)")
        return errors.NotHeld(f"task {task_id} is {status} and held by {owner or 'no agent'}, not by agent {agent_id}")
    if code == "ALREADY_EXISTS":
        return errors.AlreadyExists(rest[0])
    if code == "FAILED_PRECONDITION":
        return errors.FailedPrecondition(rest[0])
    return errors.PyArmoniKError(f"unexpected reply from a state script: {reply!r:.200}")


def session_keys(session_id: str) -> keys.SessionKeys:
    """The keys of a session. An id with braces would move the hash tag, so
    no session can have one: it is reported as not found."""
    try:
        return keys.session(session_id)
    except ValueError:
        raise errors.missing("session", [session_id]) from None


class StateScripts:
    """The state scripts, registered once on one client."""

    def __init__(self, redis: Redis) -> None:
        self._scripts: dict[str, AsyncScript] = {name: redis.register_script(source(name)) for name in STATE_SCRIPTS}

    async def run(self, name: str, session_id: str, at: float, args: Sequence[Arg] = ()) -> Reply:
        """Runs script ``name`` on the keys of ``session_id``; returns what
        follows ``'OK'`` in its reply, raises the error it answered."""
        session = session_keys(session_id)
        # int() first: redis-py would send the repr of an IntEnum status.
        plain = [str(int(a)) if isinstance(a, int) else a for a in args]
        script_keys = [*session.all, scripts.request_key(session.replies)]
        reply = await self._scripts[name](keys=script_keys, args=[session.events, repr(float(at)), session_id, *plain])
        if text(reply[0]) != "OK":
            raise error(reply)
        return list(reply[1:])
