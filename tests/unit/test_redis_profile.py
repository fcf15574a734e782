"""The cost profiler's grouping of Redis' log (bench/redis_profile.py): a
script's inner commands belong to the script entry that follows them,
EVALSHA is named by the registered script of that SHA and FCALL by its
function, and the profiler's own commands are left out. The same on a
real Redis, with EVALSHA and FCALL: tests/integration/test_bench_cost.py."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bench import redis_profile

SHA = "a" * 40


def entry(ident: int, command: str, usec: int, *, client: str = "/tmp/redis.sock:0", name: str = "") -> dict:
    return {"id": ident, "duration": usec, "command": command.encode(), "client_address": client.encode(),
            "client_name": name.encode()}  # fmt: skip


def inner(ident: int, command: str, usec: int) -> dict:
    return entry(ident, command, usec, client="?:0")


def test_a_scripts_inner_commands_and_lua_time_are_its_own() -> None:
    grouper = redis_profile.Grouper({SHA: "dispatch.claim"})
    grouper.add([entry(4, f"EVALSHA {SHA} 1 key", 100), inner(3, "HGET k f", 5), inner(2, "ZADD z 1 m", 15)])
    grouper.add([inner(5, "GET k", 10), entry(6, f"EVALSHA {SHA} 1 key", 60), entry(7, "GET payload", 4)])
    rows = {r["name"]: r for r in grouper.rows(tasks=2)}
    claim = rows["dispatch.claim"]
    assert (claim["kind"], claim["calls"], claim["calls_per_task"]) == ("script", 2, 1.0)
    assert (claim["us_per_call"], claim["us_per_task"]) == (80, 80)
    assert claim["inner_commands"] == {"zadd": 1, "hget": 1, "get": 1}
    assert claim["inner_commands_per_call"] == 1.5
    assert claim["lua_us_per_call"] == (160 - 30) / 2
    assert (rows["get"]["kind"], rows["get"]["calls"], rows["get"]["inner_commands"]) == ("command", 1, {})


def test_fcall_is_named_by_its_function_and_an_unknown_sha_by_its_prefix() -> None:
    grouper = redis_profile.Grouper({})
    grouper.add([inner(1, "HSET h f v", 2), entry(2, "FCALL claim 1 key a b", 30), entry(3, f"EVALSHA {SHA} 0", 9)])
    rows = {r["name"]: r for r in grouper.rows(tasks=1)}
    assert rows["claim"]["kind"] == "function" and rows["claim"]["inner_commands"] == {"hset": 1}
    assert rows[f"sha {SHA[:12]}"]["kind"] == "script"


def test_the_profilers_own_commands_are_left_out() -> None:
    grouper = redis_profile.Grouper({})
    grouper.add([entry(1, "SLOWLOG RESET", 3, name=redis_profile.CLIENT_NAME), entry(2, "SET k v", 2)])
    assert [r["name"] for r in grouper.rows(tasks=1)] == ["set"]


def test_a_full_log_is_reported_as_truncated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_profile, "MAX_LEN", 3)
    grouper = redis_profile.Grouper({})
    grouper.add([entry(i, "GET k", 1) for i in range(2)])
    assert not grouper.truncated
    grouper.add([entry(i, "GET k", 1) for i in range(2, 5)])
    assert grouper.truncated


@dataclass
class Script:
    """redis-py's registered script: its text and SHA."""

    script: str
    sha: str


@dataclass
class Scripts:
    claim: Script = field(default_factory=lambda: Script("claim", "1" * 40))


@dataclass
class Queue:
    _scripts: dict[str, Script] = field(default_factory=lambda: {"push": Script("push", "2" * 40)})


def test_scripts_are_named_after_the_component_and_the_attribute_or_key_holding_them() -> None:
    # Classes of this test module stand for pyarmonik's: the walk enters objects of pyarmonik.* only.
    for cls in (Scripts, Queue):
        cls.__module__ = "pyarmonik.fake"
    queue = Queue()

    @dataclass
    class Dispatch:
        _queue: Queue
        scripts: Scripts = field(default_factory=Scripts)

    Dispatch.__module__ = "pyarmonik.fake"
    grid = {"queue": queue, "dispatch": Dispatch(queue)}
    assert redis_profile.registered_scripts(grid) == {"2" * 40: "queue.push", "1" * 40: "dispatch.claim"}


def test_the_text_lists_the_top_groups_and_sums_the_others() -> None:
    grouper = redis_profile.Grouper({SHA: "dispatch.claim"})
    grouper.add([entry(1, f"EVALSHA {SHA} 0", 100), entry(2, "GET a", 4), entry(3, "SET a b", 6)])
    report = {"groups": grouper.rows(tasks=1)}
    first, others = redis_profile.lines(report, top=1)
    assert "dispatch.claim" in first and "100.0 µs per call" in first
    assert "2 others" in others and "5.0 µs per call" in others and "10.0 µs/task" in others
