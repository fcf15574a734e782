"""What a benchmark prints and writes: a table on the terminal, ratios to
the floor, the issue's targets (computed and printed, never asserted), a
JSON file and a PNG of tasks completed over time per system."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

Summary = dict[str, Any]


def rate(summary: Summary, phase: str) -> float:
    return float(summary["phases"][phase]["rate"])


def table(best: dict[str, Summary], console: Console) -> None:
    floor = best.get("floor")
    view = Table(title="tasks/s per phase (best round); latency = submit -> result available")
    view.add_column("system")
    for column in ("tasks", "submit/s", "process/s", "retrieve/s", "e2e/s", "p50 ms", "p95 ms", "p99 ms", "x floor"):
        view.add_column(column, justify="right")
    for name, summary in best.items():
        latency = summary["latency_s"]
        ratio = f"{rate(summary, 'end_to_end') / rate(floor, 'end_to_end'):.2f}" if floor else "-"
        view.add_row(
            name,
            str(summary["tasks"]),
            *(f"{rate(summary, p):,.0f}" for p in ("submission", "processing", "retrieval", "end_to_end")),
            *(f"{latency[p] * 1000:,.1f}" for p in ("p50", "p95", "p99")),
            ratio,
        )
    console.print(view)


def ratios(best: dict[str, Summary]) -> dict[str, float]:
    """Each system's end-to-end rate over the floor's (empty without it)."""
    if "floor" not in best:
        return {}
    floor = rate(best["floor"], "end_to_end")
    return {name: round(rate(s, "end_to_end") / floor, 3) for name, s in best.items()}


def targets(best: dict[str, Summary]) -> list[dict[str, Any]]:
    """The issue's targets that this run's systems allow to compute:
    (numerator system, its phase, denominator system or None, goal)."""
    grids = [name for name in ("embedded", "deployment") if name in best]
    wanted: list[tuple[str, str, str | None, float]]
    wanted = [(g, "end_to_end", "floor", {"embedded": 0.7, "deployment": 0.5}[g]) for g in grids]
    wanted += [("embedded", "end_to_end", peer, 1.0) for peer in ("dask", "celery") if "embedded" in best]
    wanted += [(g, "submission", "ray", 1.0) for g in grids]
    wanted += [(g, "retrieval", None, 2000.0) for g in grids]
    return [_target(best, *w) for w in wanted if w[2] is None or w[2] in best]


def _target(best: dict[str, Summary], name: str, phase: str, versus: str | None, goal: float) -> dict[str, Any]:
    value = rate(best[name], phase) / (rate(best[versus], phase) if versus else 1.0)
    what = f"{name} {phase.replace('_', ' ')} / {versus}" if versus else f"{name} {phase} (results/s)"
    return {"target": what, "value": round(value, 3), "goal": goal, "met": value >= goal}


def print_targets(found: list[dict[str, Any]], console: Console) -> None:
    for target in found:
        mark = "[green]met[/]" if target["met"] else "[yellow]not met[/]"
        console.print(f"  {target['target']}: {target['value']:,} (goal >= {target['goal']:,}) {mark}")


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")


def write_png(path: Path, best: dict[str, Summary], title: str) -> None:
    """Tasks completed (result available) over time, one step line per system."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 5), dpi=100)
    for name, summary in best.items():
        times = summary["completed_at_s"]
        axes.step(
            times, range(1, len(times) + 1), where="post", label=f"{name} ({rate(summary, 'end_to_end'):,.0f}/s e2e)"
        )
    axes.set_xlabel("seconds since the first submit")
    axes.set_ylabel("tasks completed")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
