"""The Lua scripts of the Redis adapters, read once and registered per client.

Each file in ``lua/`` is one atomic transition; its header lists the KEYS and
ARGV it takes. ``redis-py`` runs a registered script by EVALSHA and loads it
again by itself when the server does not know it (after a restart or a
SCRIPT FLUSH).

redis-py also sends a command again when its connection breaks before the
reply (``connection.connect_redis`` asks it to), so every script that a
second run would get wrong is registered ``replayable``: it takes a fresh ``request_key`` as its
last key and answers a repeated request with the first run's reply
(``lua/replay.lua``) instead of being applied twice.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

QUEUE_SCRIPTS = ("push", "pop", "renew", "ack", "release", "reap", "depth", "wake")
#: The queue scripts a repeated run would get wrong (the others are idempotent).
REPLAYABLE = frozenset({"push", "pop", "reap"})


@functools.cache
def source(name: str) -> str:
    """The text of ``lua/<name>.lua``."""
    return (resources.files(__package__) / "lua" / f"{name}.lua").read_text(encoding="utf-8")


def replayable(body: str, *, prelude: str = "") -> str:
    """The text of a script that runs ``body`` (after ``prelude``, which
    defines locals only) once per request: ``body`` becomes the function
    ``lua/replay.lua`` calls when the request's reply key is not set yet."""
    return "\n".join(
        (prelude, source("replay"), "local function transition()", body, "end", "return replayable(transition)")
    )


def request_key(prefix: str) -> str:
    """A reply key for one call of a replayable script: ``prefix`` (which
    carries the hash tag of the script's keys) and a unique request id."""
    return prefix + uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class QueueScripts:
    push: AsyncScript
    pop: AsyncScript
    renew: AsyncScript
    ack: AsyncScript
    release: AsyncScript
    reap: AsyncScript
    depth: AsyncScript
    wake: AsyncScript

    @classmethod
    def register(cls, redis: Redis) -> QueueScripts:
        texts = {name: replayable(source(name)) if name in REPLAYABLE else source(name) for name in QUEUE_SCRIPTS}
        return cls(**{name: redis.register_script(text) for name, text in texts.items()})
