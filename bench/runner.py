"""Runs every system asked for on one workload: start it (not measured),
warm it up (a few tasks: worker imports, connections), run the rounds, stop
it. A system that cannot start or run is reported in one line and the
others still run."""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import armonik_run, floor, peers, targets
from bench.workload import BenchError, Run, Tracker, Workload, no_progress

Runner = Callable[[Workload, Tracker], Run]
WARM_UP_TASKS = 20


def _armonik(name: str, workload: Workload, root: Path, grid_python: str) -> contextlib.AbstractContextManager[str]:
    start = targets.embedded if name == "embedded" else targets.deployment
    return start(workload, root, grid_python)


@contextlib.contextmanager
def start(name: str, workload: Workload, root: Path, grid_python: str) -> Iterator[Runner]:
    if name in targets.TARGETS:
        with _armonik(name, workload, root, grid_python) as address:
            yield functools.partial(armonik_run.run, address, name)
    elif name == "floor":
        yield floor.run
    else:
        with peers.system(name, workload, root) as runner:
            yield runner


def _tracker(progress: Progress, label: str) -> Tracker:
    if not progress.console.is_terminal:  # no live bars in a log or a pipe: lines instead
        return _lines(progress.console, label)

    def open_bar(phase: str, total: int) -> Callable[[int], None]:
        bar = progress.add_task(f"{label} {phase}", total=total)
        return lambda count: progress.advance(bar, count)

    return open_bar


def _lines(console: Console, label: str) -> Tracker:
    """Progress as a line at each tenth of a phase, for output that is not a terminal."""

    def open_phase(phase: str, total: int) -> Callable[[int], None]:
        done, started, lock = [0], time.monotonic(), threading.Lock()
        step = max(total // 10, 1)

        def advance(count: int) -> None:
            with lock:  # results are counted from several threads
                before, done[0] = done[0], done[0] + count
                if done[0] // step > before // step or done[0] == total:
                    console.print(f"{label} {phase}: {done[0]:,}/{total:,} ({time.monotonic() - started:.0f} s)")

        return advance

    return open_phase


def run_all(names: list[str], workload: Workload, rounds: int, grid_python: str, console: Console) -> dict[str, Any]:
    """system -> {"rounds": [summaries]} or {"failed": reason}."""
    outcome: dict[str, Any] = {}
    columns = (TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    for name in names:
        # Short (unix socket paths stay under ~100 bytes); kept when the
        # system fails, for its logs.
        root = Path(tempfile.mkdtemp(prefix="bench-"))
        try:
            outcome[name] = {"rounds": _rounds(name, workload, rounds, grid_python, root, console, columns)}
        except grpc.RpcError as exc:
            outcome[name] = _failed(name, f"a call failed: {exc.code().name}: {exc.details()}", root, console)
        except (BenchError, OSError, RuntimeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            outcome[name] = _failed(name, reason, root, console)
        except BaseException:  # interrupted: nothing to look at
            shutil.rmtree(root, ignore_errors=True)
            raise
        else:
            shutil.rmtree(root, ignore_errors=True)
    return outcome


def _failed(name: str, reason: str, root: Path, console: Console) -> dict[str, str]:
    console.print(f"[red]{name}: failed:[/] {escape(reason)} (files kept in {root})", soft_wrap=True)
    return {"failed": reason}


def _rounds(
    name: str, workload: Workload, rounds: int, grid_python: str, root: Path, console: Console, columns: tuple[Any, ...]
) -> list[dict[str, Any]]:
    summaries = []
    with contextlib.ExitStack() as stack:
        starting = f"{name}: starting, then warming up ({WARM_UP_TASKS} tasks)..."
        if not console.is_terminal:  # a status spinner shows nothing there
            console.print(starting)
        with console.status(starting):
            runner = stack.enter_context(start(name, workload, root, grid_python))
            runner(workload.scaled(min(WARM_UP_TASKS, workload.tasks)), no_progress)
        for index in range(rounds):
            label = name if rounds == 1 else f"{name} #{index + 1}"
            with Progress(*columns, console=console, transient=True) as progress:
                measured = runner(workload, _tracker(progress, label))
            summary = measured.summary()
            e2e = summary["phases"]["end_to_end"]["rate"]  # type: ignore[index]
            console.print(f"{label}: {workload.tasks} tasks, end to end {e2e:,.0f} tasks/s")
            summaries.append(summary)
    return summaries
