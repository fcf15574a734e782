"""``python -m bench`` run as a user runs it, on a few tasks: the JSON has
every phase of every system with positive counts and ordered latency
percentiles, the PNG is written, and a bad flag is one line. Rates are
never asserted: they are the benchmark's to report."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from bench import workload
from tests.helpers import run_command

pytestmark = pytest.mark.integration
ROOT = pathlib.Path(__file__).parents[2]


def bench(*flags: str, env: dict[str, str] | None = None, timeout: float = 100) -> subprocess.CompletedProcess[str]:
    """``python -m bench FLAGS``, stopped by SIGTERM past ``timeout``."""
    return run_command([sys.executable, "-m", "bench", *flags], cwd=ROOT, env=env, timeout=timeout)


def run_bench(tmp_path: pathlib.Path, *flags: str) -> dict[str, Any]:
    outputs = ["--json", str(tmp_path / "bench.json"), "--png", str(tmp_path / "bench.png")]
    done = bench("--tasks", "30", "--workers", "1", "--timeout", "80", *flags, *outputs)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "bench.png").stat().st_size > 0
    return json.loads((tmp_path / "bench.json").read_text())  # type: ignore[no-any-return]


def assert_measured(system: dict[str, Any], tasks: int) -> None:
    (summary,) = system["rounds"]
    assert set(summary["phases"]) == set(workload.PHASES)
    for phase in summary["phases"].values():
        assert phase["count"] == tasks
        assert phase["seconds"] > 0
        assert phase["rate"] > 0
    latency = summary["latency_s"]
    assert 0 <= latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert len(summary["completed_at_s"]) == tasks


def test_bench_measures_the_embedded_grid_and_the_floor_in_every_phase(tmp_path: pathlib.Path) -> None:
    document = run_bench(tmp_path, "--targets", "embedded", "--peers", "floor")
    assert set(document["systems"]) == {"embedded", "floor"}
    for system in document["systems"].values():
        assert_measured(system, 30)
    assert document["ratios_to_floor"]["floor"] == 1.0
    assert {t["target"] for t in document["targets"]} >= {"embedded end to end / floor"}
    assert document["versions"]["armonik"]
    assert document["machine"]["cpus"] >= 1


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="dask[distributed] is not installed")
def test_bench_runs_a_peer_on_the_same_workload(tmp_path: pathlib.Path) -> None:
    document = run_bench(tmp_path, "--targets", "embedded", "--peers", "dask")
    assert_measured(document["systems"]["dask"], 30)
    assert "embedded end to end / dask" in {t["target"] for t in document["targets"]}


def test_a_peer_not_installed_is_skipped_with_its_reason(tmp_path: pathlib.Path) -> None:
    if importlib.util.find_spec("ray") is not None:
        pytest.skip("ray is installed here")
    document = run_bench(tmp_path, "--targets", "embedded", "--peers", "ray")
    assert "ray" in document["skipped"] and "ray" not in document["systems"]


@pytest.mark.parametrize("flags", [["--peers", "spark"], ["--tasks", "many"], ["--targets", "cloud"], ["--tasks", "0"]])
def test_a_bad_flag_is_reported_in_one_line(flags: list[str]) -> None:
    done = bench(*flags, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("python -m bench: error:")


def test_a_grid_that_cannot_start_fails_in_one_line_and_the_json_says_why(tmp_path: pathlib.Path) -> None:
    flags = ["--tasks", "5", "--targets", "embedded", "--grid-python", "/nonexistent/python"]
    flags += ["--json", str(tmp_path / "bench.json"), "--png", str(tmp_path / "bench.png")]
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the failed system's files are kept: here
    done = bench(*flags, env=env, timeout=60)
    assert done.returncode == 1
    failures = [line for line in done.stdout.splitlines() if "failed" in line]
    assert len(failures) == 1 and failures[0].startswith("embedded: failed:"), done.stdout
    assert "/nonexistent/python" in json.loads((tmp_path / "bench.json").read_text())["systems"]["embedded"]["failed"]


def test_a_round_run_into_a_log_shows_its_progress_and_writes_into_the_output_dir(tmp_path: pathlib.Path) -> None:
    """Not a terminal (a log file, CI): no live bars, so a line at each tenth of each phase."""
    flags = ["--tasks", "30", "--workers", "1", "--timeout", "80", "--targets", "embedded"]
    done = bench(*flags, "--output-dir", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "embedded: starting, then warming up" in done.stdout
    for phase in ("submission", "processing", "retrieval"):  # submission goes by batches of 500
        assert f"embedded {phase}: 30/30 (" in done.stdout, done.stdout
    for phase in ("processing", "retrieval"):
        assert f"embedded {phase}: 3/30 (" in done.stdout, done.stdout
    [json_file] = (tmp_path / "out").glob("bench-*.json")
    assert json_file.with_suffix(".png").stat().st_size > 0
    assert f"Wrote {json_file} and {json_file.with_suffix('.png')}" in " ".join(done.stdout.split())
