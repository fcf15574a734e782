"""The Lua scripts of the Redis adapters, read once and registered per client.

Each file in ``lua/`` is one atomic transition; its header lists the KEYS and
ARGV it takes. ``redis-py`` runs a registered script by EVALSHA and loads it
again by itself when the server does not know it (after a restart or a
SCRIPT FLUSH).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

QUEUE_SCRIPTS = ("push", "pop", "renew", "ack", "release", "reap", "depth", "wake")


@functools.cache
def source(name: str) -> str:
    """The text of ``lua/<name>.lua``."""
    return (resources.files(__package__) / "lua" / f"{name}.lua").read_text(encoding="utf-8")


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
        return cls(**{name: redis.register_script(source(name)) for name in QUEUE_SCRIPTS})
