"""The cost profiler run as the hooks and README run it: ``bash
bench/cpu_per_task.sh`` (which calls ``python -m bench.cost``) on a few
dozen tasks prints each process's CPU per task and Redis' time per script,
and its JSON holds every process and the agent's claim and finish scripts.
No figure is asserted beyond being there: they are the benchmark's to
report. And the profiler, on a real Redis 7, names EVALSHA by its
registered script and FCALL by its function."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
import tempfile
from collections.abc import Iterator

import pytest
import redis

from bench import redis_profile, servers
from tests.helpers import run_command
from tests.servers import skip_or_fail

pytestmark = pytest.mark.integration
ROOT = pathlib.Path(__file__).parents[2]
PROCESSES = {"control plane", "agent", "SDK worker", "redis-server", "client"}


def test_cpu_per_task_prints_every_process_and_the_agents_scripts(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "cost.json"
    command = ["bash", "bench/cpu_per_task.sh", "30", "--warm-up", "5", "--json", str(output), "--timeout", "150"]
    done = run_command(command, cwd=ROOT, timeout=200, env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    lines = done.stdout.splitlines()
    for name in PROCESSES:
        assert any(line.strip().startswith(name) and "ms/task" in line for line in lines), name
    assert sum("per call" in line for line in lines) >= 2
    document = json.loads(output.read_text())
    assert set(document["cpu_ms_per_task"]) == PROCESSES
    assert all(ms > 0 for ms in document["cpu_ms_per_task"].values())
    scripts = [g for g in document["redis"]["groups"] if g["kind"] != "command"]
    names = {g["name"] for g in scripts}
    assert any("claim" in name for name in names), names
    assert any("commit" in name or "finish" in name for name in names), names
    claim = next(g for g in scripts if "claim" in g["name"])
    commit = next(g for g in document["redis"]["groups"] if "commit" in g["name"])
    # A task is claimed by a claim or by the commit of the task before it (one round trip per task).
    assert claim["calls"] + commit["calls"] >= document["redis"]["tasks"] > 0 and claim["inner_commands"]
    assert document["versions"]["armonik"] and document["machine"]["cpus"] >= 1


def redis_7() -> str | None:
    """A redis-server of version 7 or later on PATH (Functions: FCALL)."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        binary = shutil.which("redis-server", path=folder)
        if binary and int(servers.redis_version(binary).split(".")[0]) >= 7:
            return binary
    return None


@pytest.fixture
def redis_url() -> Iterator[str]:
    binary = redis_7()
    if binary is None:
        skip_or_fail("no redis-server >= 7 on PATH (FCALL)")
    folder = pathlib.Path(tempfile.mkdtemp(prefix="pyak-prof-"))  # short: a unix socket path
    try:
        with servers.redis_process(folder, aof=False, unix_socket=True, binary=binary) as server:
            yield server.url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_profiler_names_evalsha_by_its_script_and_fcall_by_its_function(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    script = client.register_script("redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])")
    library = "#!lua name=bench\nredis.register_function('finish', function(k, a) return redis.call('INCR', k[1]) end)"
    client.function_load(library)
    client.script_load(script.script)  # else the first EVALSHA fails NOSCRIPT and redis-py loads it: more entries
    profile = redis_profile.RedisProfile(redis_url, {script.sha: "dispatch.claim"})
    profile.start()
    for _ in range(3):
        script(keys=["k"], args=["v"])
        client.fcall("finish", 1, "n")
    client.get("k")
    profile.stop()
    client.close()

    groups = {g["name"]: g for g in profile.report(tasks=3)["groups"]}
    assert set(groups) == {"dispatch.claim", "finish", "get"}
    claim, finish = groups["dispatch.claim"], groups["finish"]
    assert (claim["kind"], claim["calls"], claim["inner_commands"]) == ("script", 3, {"set": 3, "get": 3})
    assert (finish["kind"], finish["calls"], finish["inner_commands"]) == ("function", 3, {"incr": 3})
    assert groups["get"]["kind"] == "command"
