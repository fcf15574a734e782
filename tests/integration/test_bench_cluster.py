"""The cluster ceiling benchmark run as the README runs it, tiny: one Redis,
two control planes, ten in-process agents in two processes, 200 tasks from
two official clients. Its JSON holds the run's rate, each group of
processes' CPU per task, Redis' scripts and the ceiling it implies; none of
the figures is asserted beyond being there. A bad flag is one line."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

from tests.helpers import run_command

pytestmark = pytest.mark.integration
ROOT = pathlib.Path(__file__).parents[2]


def test_the_cluster_benchmark_reports_rate_cpu_per_task_and_the_redis_ceiling(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "cluster.json"
    flags = ["--agents", "10", "--tasks", "200", "--idle-seconds", "0.5", "--timeout", "200", "--json", str(output)]
    done = run_command([sys.executable, "-m", "bench.cluster", *flags], cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    [level] = json.loads(output.read_text())["levels"]
    assert (level["agents"], level["agent_processes"], level["control_planes"], level["tasks"]) == (10, 2, 2, 200)
    assert level["tasks_per_s"] > 0 and level["redis_ceiling_tasks_per_s"] > 0
    assert set(level["cpu_ms_per_task"]) == {"redis-server", "control planes", "agents", "clients"}
    assert all(ms > 0 for ms in level["cpu_ms_per_task"].values())
    claim = next(g for g in level["redis"]["groups"] if "claim" in g["name"])
    commit = next(g for g in level["redis"]["groups"] if "commit" in g["name"])
    # A task is claimed by a claim or by the commit of the task before it (one round trip per task).
    assert claim["calls"] + commit["calls"] >= level["redis"]["tasks"] > 0
    # An idle agent claims again only when its wait for a push ends (10 s): a short window may see none.
    assert level["redis_idle_busy"] >= 0 and level["idle_claims_per_s"] >= 0
    assert "one Redis primary carries" in done.stdout and "| 10 |" in done.stdout


def test_a_bad_agent_count_is_one_line() -> None:
    done = run_command([sys.executable, "-m", "bench.cluster", "--agents", "10,0"], cwd=ROOT, timeout=60)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("python -m bench.cluster: error: argument --agents: agent counts must be >= 1")
