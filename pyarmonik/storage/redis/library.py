"""The ``pyarmonik`` Redis Functions library: every Lua function of the Redis
adapters, loaded once per server and called by name (``FCALL``).

Functions (Redis >= 7.0, Valkey >= 7.2) load their library once: its
constants and helpers are built at load time, not at every call as an
EVAL script's prelude is (about 40 µs a call before). The library is the
``lua/`` files of ``PARTS`` in order, after the key functions generated
from ``keys`` (so no key pattern is written twice); each file's header
lists its functions, their arguments and the keys they touch.

A call names its function and passes arguments only (no KEYS: the hot path
spans sessions and partition queues, see ``keys``). A function answers
``{'OK', ...}`` or an error reply ``{'<CODE>', ...}``, which ``call`` raises
as the matching ``pyarmonik.core.errors`` exception: a function that refuses
has written nothing.

The library carries a version (a digest of its text): a process loads it
when the server holds another version or none (a fresh or flushed server),
and again when a call finds its function missing (a restarted server
without persistence). Processes of two versions must not share one Redis.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
import weakref
from collections.abc import Sequence
from importlib import resources

import redis.exceptions
from redis.asyncio import Redis

from pyarmonik.core import errors
from pyarmonik.storage.redis import keys

NAME = "pyarmonik"
PARTS = ("lib_core", "lib_queue", "lib_graph", "fn_control", "fn_agent")
#: The oldest servers with Functions.
MINIMUM = "Redis >= 7.0 or Valkey >= 7.2"

Arg = str | bytes | int | float
Reply = list[object]


@functools.cache
def source() -> tuple[str, str]:
    """The library's text and its version."""
    body = "\n".join(
        (resources.files(__package__) / "lua" / f"{part}.lua").read_text(encoding="utf-8") for part in PARTS
    )
    text = f"#!lua name={NAME}\n{keys.lua_key_functions()}\n{body}\n"
    version = hashlib.sha256(text.encode()).hexdigest()[:16]
    text += f"redis.register_function('pa_version', function() return '{version}' end)\n"
    return text, version


def text(value: object) -> str:
    """A reply element as text, whatever the client's ``decode_responses``."""
    return value.decode() if isinstance(value, bytes) else str(value)


def request_id() -> str:
    """A fresh request id, for the functions applied once per request."""
    return uuid.uuid4().hex


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
    return errors.PyArmoniKError(f"unexpected reply from a Redis function: {reply!r:.200}")


class Library:
    """The library on one client: loaded when needed, called by name."""

    _of: weakref.WeakKeyDictionary[Redis, Library] = weakref.WeakKeyDictionary()

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._loaded = False

    @classmethod
    def of(cls, redis: Redis) -> Library:
        """The one ``Library`` of a client (its adapters share it)."""
        library = cls._of.get(redis)
        if library is None:
            library = cls._of[redis] = cls(redis)
        return library

    async def load(self, *, force: bool = False) -> None:
        text_, version = source()
        try:
            if not force:
                try:
                    if _text_or_none(await self._redis.fcall("pa_version", 0)) == version:
                        self._loaded = True
                        return
                except redis.exceptions.ResponseError:
                    pass  # no library yet, or an older one without pa_version
            await self._redis.execute_command("FUNCTION", "LOAD", "REPLACE", text_)
        except redis.exceptions.ResponseError as exc:
            if "unknown command" in str(exc).lower():
                raise errors.Unavailable(f"this Redis has no Functions: PyArmoniK needs {MINIMUM}") from None
            raise
        self._loaded = True

    async def call(self, name: str, args: Sequence[Arg], *, at: float = 0.0) -> Reply:
        """Runs function ``name`` with ``at`` (the caller's time) then
        ``args``; returns what follows ``'OK'``, raises the error it answered."""
        if not self._loaded:
            await self.load()
        plain = [repr(float(at)), *(str(int(a)) if isinstance(a, int) and not isinstance(a, bool) else a for a in args)]
        try:
            reply = await self._redis.fcall(name, 0, *plain)
        except redis.exceptions.ResponseError as exc:
            if "function not found" not in str(exc).lower():
                raise
            await self.load(force=True)  # the server lost it (restarted without persistence, flushed)
            reply = await self._redis.fcall(name, 0, *plain)
        if reply[0] != b"OK" and reply[0] != "OK":
            raise error(reply)
        return list(reply[1:])


def _text_or_none(value: object) -> str | None:
    return None if value is None else text(value)
