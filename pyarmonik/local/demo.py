"""``pyarmonik local --demo``: the grid with the example workers, the example
clients run against it, progress shown, results printed.

The examples are the files of ``examples/`` (official ``armonik`` packages
only), loaded from the source checkout, so the demo runs exactly what a user
would copy.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import grpc
from armonik.client import ArmoniKEvents, ArmoniKTasks
from armonik.common import Task, TaskStatus
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pyarmonik.local import launcher
from pyarmonik.settings import LocalSettings


def _examples_dir() -> Path:
    """``examples/`` of the source checkout, or of the current directory (an
    installed package, e.g. the Docker image, has them in its work dir)."""
    for candidate in (Path(__file__).resolve().parents[2] / "examples", Path.cwd() / "examples"):
        if (candidate / "hello_world" / "worker.py").exists():
            return candidate
    return Path.cwd() / "examples"


EXAMPLES = _examples_dir()
NAMES = ["Ada", "Alan", "Barbara", "Donald", "Edsger", "Frances", "Grace", "John", "Ken", "Margaret"]


def _load(relative: str) -> ModuleType:
    path = EXAMPLES / relative
    spec = importlib.util.spec_from_file_location(path.stem + "_" + path.parent.name, path)
    if spec is None or spec.loader is None or not path.exists():
        raise FileNotFoundError(f"demo example not found: {path} (the demo runs from a source checkout)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def demo_settings(base: LocalSettings) -> LocalSettings:
    """The user's settings, with the examples' partitions and workers; on
    any free port unless one is given (its own clients need no known port,
    and 5001 may serve another grid)."""
    python = sys.executable
    workers = [
        f'default="{python}" "{EXAMPLES / "hello_world" / "worker.py"}"',
        f'subtasking="{python}" "{EXAMPLES / "subtasking" / "worker.py"}"',
    ]
    update = {"partitions": ["default", "subtasking"], "worker": workers, "agents": max(base.agents, 2)}
    if "port" not in base.model_fields_set:
        update["port"] = 0
    return base.model_copy(update=update)


def _run_clients(endpoint: str, names: list[str], values: list[int], progress: Progress) -> tuple[dict, int]:
    hello, subtasking = _load("hello_world/client.py"), _load("subtasking/client.py")
    with grpc.insecure_channel(endpoint) as channel:
        hello_session, greetings = hello.submit(channel, names)
        sum_session, sum_id = subtasking.submit(channel, values)
        with ThreadPoolExecutor(2) as pool:
            events = ArmoniKEvents(channel)
            waits = [
                pool.submit(events.wait_for_result_availability, list(greetings.values()), hello_session),
                pool.submit(events.wait_for_result_availability, sum_id, sum_session),
            ]
            _show_progress(channel, [hello_session, sum_session], waits, progress)
        return hello.collect(channel, hello_session, greetings), subtasking.collect(channel, sum_session, sum_id)


def _show_progress(channel: grpc.Channel, sessions: list[str], waits: list[Future], progress: Progress) -> None:
    tasks = ArmoniKTasks(channel)
    bar = progress.add_task("tasks completed", total=None)
    session_filter = None
    for session_id in sessions:
        clause = Task.session_id == session_id
        session_filter = clause if session_filter is None else session_filter | clause
    while True:
        done = all(w.done() for w in waits)
        counts = tasks.count_tasks_by_status(session_filter)
        progress.update(bar, total=sum(counts.values()), completed=counts.get(TaskStatus.COMPLETED, 0))
        if done:
            for wait in waits:
                wait.result()
            return
        time.sleep(0.1)


async def run_demo(base: LocalSettings, console: Console) -> int:
    settings = demo_settings(base)
    names, values = [f"{n} {i}" for i in range(10) for n in NAMES], list(range(1, 21))
    async with launcher.LocalGrid(settings) as grid:
        endpoint = f"{settings.host}:{grid.port}"
        console.print(
            f"[bold]PyArmoniK grid[/] on {endpoint}: partitions {settings.partitions}, "
            f"{settings.agents} agent(s) each; worker logs in {settings.data_dir / 'logs'}"
        )
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            clients = asyncio.to_thread(_run_clients, endpoint, names, values, progress)
            greetings, total = await launcher.while_serving(grid, clients)
    shown = list(dict.fromkeys(greetings.values()))
    console.print(f"hello_world: {len(greetings)} greetings, e.g. " + ", ".join(shown[:4]))
    console.print(f"subtasking: sum of squares of 1..{values[-1]} = {total} (expected {sum(v * v for v in values)})")
    return 0 if total == sum(v * v for v in values) else 1
