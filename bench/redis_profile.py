"""Where Redis' time goes, per script and per command, over a measured window.

Redis logs every command in its SLOWLOG once ``slowlog-log-slower-than``
is 0, with its duration in microseconds (time inside Redis: wall time, so a
loaded machine inflates it a little; the redis-server's /proc CPU is the
steadier total). A script's entry (``EVALSHA <sha>`` or, for Redis 7
Functions, ``FCALL <name>``) comes right after the entries of the commands
it called, which Redis logs from its Lua client (address ``?:0``): so each
script's calls, time, inner commands and the Lua work between them
(script time minus inner commands) are known. The log is drained while the
run goes on (``SLOWLOG GET`` and ``RESET`` in one MULTI, so that no entry
falls between), which keeps Redis' memory bounded at any task count.

EVALSHA shows a SHA, not a name: ``script_names`` opens a grid exactly as
every PyArmoniK process does (``wiring.open_grid``) and collects the
redis-py scripts it registered, named after the attribute or key that holds
them (``dispatch.claim``, ``state.create_tasks``, ``queue.push``...). A
script found nowhere keeps its SHA. FCALL is named by its function.

``INFO commandstats`` deltas (calls and microseconds per command, inner
calls included) are kept beside, for a view that no drain can perturb.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bench.proc_cpu import CpuMeter
from bench.servers import RunningRedis

#: The profiler's own Redis client name: its commands are left out.
CLIENT_NAME = "bench-redis-profile"
DRAIN_SECONDS = 1.0
MAX_LEN = 1_000_000
#: Commands the profiler itself sends (config, drains, stats), left out of
#: the commandstats deltas (which do not say who sent a command).
_OWN = {"config", "slowlog", "multi", "exec", "info", "client", "hello", "ping"}
_SCRIPT_CALLS = {"evalsha": "script", "evalsha_ro": "script", "eval": "script", "eval_ro": "script"}
_FUNCTION_CALLS = {"fcall", "fcall_ro"}


# -- script names ---------------------------------------------------------------
def script_names(redis_url: str) -> dict[str, str]:
    """SHA -> name of every script a PyArmoniK process registers on Redis."""
    return asyncio.run(_registered(redis_url))


async def _registered(redis_url: str) -> dict[str, str]:
    from pyarmonik.processes import wiring
    from pyarmonik.settings import StorageSettings

    with tempfile.TemporaryDirectory() as data:
        settings = StorageSettings(redis_url=redis_url, data_dir=Path(data))
        async with wiring.open_grid(settings) as grid:
            return registered_scripts(grid)


def registered_scripts(root: object) -> dict[str, str]:
    """SHA -> ``<component>.<name>`` of the redis-py scripts reachable from
    ``root``'s attributes (breadth first, so the shortest path names a
    script held in two places), through PyArmoniK's own objects only."""
    found: dict[str, str] = {}
    seen: set[int] = set()
    pending = collections.deque((name, child) for name, child in _children(root))
    while pending:
        path, value = pending.popleft()
        if id(value) in seen:
            continue
        seen.add(id(value))
        sha = getattr(value, "sha", None)
        if isinstance(sha, str) and hasattr(value, "script"):
            parts = path.split(".")
            found.setdefault(sha, f"{parts[0]}.{parts[-1]}")
        elif isinstance(value, (dict, list, tuple)) or type(value).__module__.startswith("pyarmonik."):
            pending.extend((f"{path}.{name}", child) for name, child in _children(value))
    return found


def _children(value: object) -> Iterator[tuple[str, object]]:
    if isinstance(value, dict):
        yield from ((str(k), v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        yield from ((str(i), v) for i, v in enumerate(value))
    else:
        names = list(getattr(value, "__dict__", {}))
        names += [s for cls in type(value).__mro__ for s in getattr(cls, "__slots__", ())]
        for name in names:
            with contextlib.suppress(AttributeError):
                yield name.lstrip("_"), getattr(value, name)


# -- the log, grouped -----------------------------------------------------------
@dataclass
class Group:
    """One script (or function, or plain command) over the window."""

    name: str
    kind: str  # "script" (EVALSHA), "function" (FCALL) or "command"
    calls: int = 0
    usec: int = 0
    inner_calls: int = 0
    inner_usec: int = 0
    inner: collections.Counter[str] = field(default_factory=collections.Counter)

    def row(self, tasks: int) -> dict[str, Any]:
        calls = max(self.calls, 1)
        return {
            "name": self.name,
            "kind": self.kind,
            "calls": self.calls,
            "calls_per_task": self.calls / tasks,
            "us_per_call": self.usec / calls,
            "us_per_task": self.usec / tasks,
            "inner_commands_per_call": self.inner_calls / calls,
            "inner_us_per_call": self.inner_usec / calls,
            "lua_us_per_call": (self.usec - self.inner_usec) / calls,
            "inner_commands": dict(self.inner.most_common()),
        }


@dataclass
class Grouper:
    """Entries in id order -> groups; a script's inner commands wait for it."""

    names: dict[str, str]
    groups: dict[tuple[str, str], Group] = field(default_factory=dict)
    pending: list[tuple[str, int]] = field(default_factory=list)
    #: A drain found the log full: older entries were dropped before it.
    truncated: bool = False

    def add(self, entries: list[dict[str, Any]]) -> None:
        self.truncated |= len(entries) >= MAX_LEN
        for entry in sorted(entries, key=lambda e: int(e["id"])):
            self._one(entry)

    def _one(self, entry: dict[str, Any]) -> None:
        words = _text(entry["command"]).split(" ", 2)
        command, duration = words[0].lower(), int(entry["duration"])
        if _text(entry.get("client_name") or b"") == CLIENT_NAME:
            return
        if _text(entry.get("client_address") or b"").startswith("?"):  # a script's own call
            self.pending.append((command, duration))
            return
        kind, name = "command", command
        if command in _SCRIPT_CALLS and len(words) > 1:
            kind, name = "script", self.names.get(words[1].lower(), f"sha {words[1][:12]}")
        elif command in _FUNCTION_CALLS and len(words) > 1:
            kind, name = "function", words[1]
        group = self.groups.setdefault((kind, name), Group(name, kind))
        group.calls += 1
        group.usec += duration
        for inner, usec in self.pending:
            group.inner_calls += 1
            group.inner_usec += usec
            group.inner[inner] += 1
        self.pending.clear()

    def rows(self, tasks: int) -> list[dict[str, Any]]:
        rows = [g.row(tasks) for g in self.groups.values()]
        return sorted(rows, key=lambda r: r["us_per_task"], reverse=True)


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


# -- a window -------------------------------------------------------------------
class RedisProfile:
    """Start before the measured window, stop after it; ``report`` then."""

    def __init__(self, redis_url: str, names: dict[str, str]) -> None:
        self._client = redis.Redis.from_url(redis_url, client_name=CLIENT_NAME)
        self._grouper = Grouper(names)
        self._stats: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._drainer = threading.Thread(target=self._drain_forever, name="slowlog-drain", daemon=True)
        self._saved: dict[str, str] = {}

    def start(self) -> None:
        self._saved = self._client.config_get("slowlog-*")
        self._client.config_set("slowlog-max-len", MAX_LEN)
        self._client.config_set("slowlog-log-slower-than", 0)
        self._client.slowlog_reset()
        self._stats = _commandstats(self._client)
        self._drainer.start()

    def stop(self) -> None:
        self._stop.set()
        self._drainer.join()
        self._drain()
        after = _commandstats(self._client)
        self._stats = {
            name: {k: after[name][k] - self._stats.get(name, {}).get(k, 0) for k in ("calls", "usec")}
            for name in after
            if name.split("|")[0] not in _OWN
        }
        for name, value in self._saved.items():
            self._client.config_set(name, value)
        self._client.close()

    def _drain_forever(self) -> None:
        with contextlib.suppress(redis.RedisError):  # the run failed and its Redis went: nothing to keep
            while not self._stop.wait(DRAIN_SECONDS):
                self._drain()

    def _drain(self) -> None:
        with self._client.pipeline(transaction=True) as pipe:
            pipe.slowlog_get(-1)
            pipe.slowlog_reset()
            entries, _ = pipe.execute()
        self._grouper.add(entries)

    def report(self, tasks: int) -> dict[str, Any]:
        rows = self._grouper.rows(tasks)
        stats = sorted(self._stats.items(), key=lambda kv: kv[1]["usec"], reverse=True)
        return {
            "groups": rows,
            "us_per_task": sum(r["us_per_task"] for r in rows),
            "truncated": self._grouper.truncated,
            "commandstats": [
                {"command": name, "calls_per_task": s["calls"] / tasks, "us_per_task": s["usec"] / tasks}
                for name, s in stats
                if s["calls"]
            ],
        }


def window(redis: RunningRedis, names: dict[str, str], tasks: int, run: Callable[[], object]) -> dict[str, Any]:
    """The report of a window of its own around ``run`` (``tasks`` tasks):
    logging every command costs Redis CPU, so the CPU per task is measured
    in another window, with the log off; this one's is kept to show the
    difference (``redis_cpu_ms_per_task``)."""
    profile = RedisProfile(redis.url, names)
    meter = CpuMeter({"redis-server": [redis.pid]})
    profile.start()
    meter.start()
    run()
    cpu = meter.stop()["redis-server"]
    profile.stop()
    return profile.report(tasks) | {"tasks": tasks, "redis_cpu_ms_per_task": cpu * 1000 / tasks}


def _commandstats(client: redis.Redis) -> dict[str, dict[str, int]]:
    info = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): {"calls": int(v["calls"]), "usec": int(v["usec"])}
        for name, v in info.items()
        if isinstance(v, dict)
    }


# -- text -------------------------------------------------------------------------
def lines(report: dict[str, Any], *, top: int) -> list[str]:
    """The ``top`` groups by Redis time per task, the others in one line."""
    rows = report["groups"]
    out = []
    for row in rows[:top]:
        inner = ""
        if row["kind"] != "command":
            inner = f"  ({row['inner_commands_per_call']:.0f} commands, Lua {row['lua_us_per_call']:,.0f} µs/call)"
        out.append(
            f"  {row['name']:<28} {row['kind']:<8} {row['calls_per_task']:7.3f} calls/task"
            f" {row['us_per_call']:9,.1f} µs per call {row['us_per_task']:9,.1f} µs/task{inner}"
        )
    rest = rows[top:]
    if rest:
        calls = sum(r["calls_per_task"] for r in rest)
        usec = sum(r["us_per_task"] for r in rest)
        label = f"{len(rest)} others"
        out.append(
            f"  {label:<28} {'':<8} {calls:7.3f} calls/task {usec / calls if calls else 0:9,.1f} µs per call"
            f" {usec:9,.1f} µs/task"
        )
    return out
