"""The fair-share benchmarks run as bench/README.md runs them, small: the
claim's cost per layout (``bench.fair_cost``) and the shares over time on a
real grid with Jain's index and a PNG (``bench.bench_fairness``). Figures
are the benchmarks' to report: only their presence and the shares' sense
are checked."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

from tests.helpers import run_command

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
ROOT = pathlib.Path(__file__).parents[2]


def test_the_claim_cost_benchmark_reports_each_layout(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "cost.json"
    command = [sys.executable, "-m", "bench.fair_cost", "--sessions", "1,3", "--tasks", "30", "--claims", "12",
               "--json", str(output)]  # fmt: skip
    done = run_command(command, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = json.loads(output.read_text())["runs"]
    assert {(r["layout"], r["sessions"]) for r in runs} == {
        (layout, sessions) for layout in ("plain", "weighted", "user", "capped", "fifo") for sessions in (1, 3)
    }
    plain = next(r for r in runs if r["layout"] == "plain" and r["sessions"] == 3)
    assert plain["claims"] == plain["ran"] == 12 and plain["commands"]["zincrby"] == 1 and plain["us_per_claim"] > 0
    assert plain["scrape_ms"]["steps"] >= 1


def test_the_shares_benchmark_reports_the_weights_jain_s_index_and_a_png(tmp_path: pathlib.Path) -> None:
    output, png = tmp_path / "fairness.json", tmp_path / "fairness.png"
    command = [sys.executable, "-m", "bench.bench_fairness", "--agents", "2", "--work-ms", "5", "--tasks", "40",
               "--window", "14", "--flood", "60", "--json", str(output), "--png", str(png)]  # fmt: skip
    done = run_command(command, cwd=ROOT, timeout=500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(output.read_text())
    assert "Jain's index" in done.stdout and png.stat().st_size > 0
    shares = figures["weights"]["steady_shares"]
    assert shares[0] < shares[1] < shares[2]  # 1:2:4


def test_a_bad_flag_is_one_line() -> None:
    done = run_command([sys.executable, "-m", "bench.bench_fairness", "--weights", "1,0"], cwd=ROOT, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "--weights" in done.stderr
