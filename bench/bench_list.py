"""Time ``pyarmonik.core.filters.apply`` over 100,000 in-memory tasks.

Run: ``python bench/bench_list.py`` (prints milliseconds per query).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from pyarmonik.core.filters import Condition, ListQuery, Op, Sort, ValueKind, apply
from pyarmonik.core.models import Task, TaskOptions
from pyarmonik.core.statuses import TaskStatus

N_TASKS = 100_000
REPEATS = 20


def build_tasks(n: int, seed: int = 42) -> list[Task]:
    rng = random.Random(seed)
    statuses = list(TaskStatus)
    sessions = [f"session-{i}" for i in range(50)]
    tasks = []
    for i in range(n):
        options = TaskOptions(priority=rng.randint(0, 9), options={"team": rng.choice(["red", "blue", "green"])})
        tasks.append(
            Task(
                task_id=f"task-{i:06d}",
                session_id=rng.choice(sessions),
                status=rng.choice(statuses),
                options=options,
                created_at=1_700_000_000.0 + rng.random() * 86_400,
                payload_id=f"payload-{i:06d}",
            )
        )
    return tasks


def time_query(tasks: list[Task], query: ListQuery) -> tuple[float, int]:
    apply(tasks, query)  # warm the compiled-filter cache
    start = time.perf_counter()
    for _ in range(REPEATS):
        page = apply(tasks, query)
    return (time.perf_counter() - start) / REPEATS * 1000, page.total


def main() -> None:
    tasks = build_tasks(N_TASKS)
    newest_first = Sort("created_at", descending=True)
    queries = {
        "(a) no filter, created_at desc, page 0 x 100": ListQuery(sort=newest_first, page=0, page_size=100),
        "(b) status == COMPLETED, created_at desc": ListQuery(
            where=((Condition("status", ValueKind.STATUS, Op.EQ, int(TaskStatus.COMPLETED)),),),
            sort=newest_first,
        ),
        "(c) options.options.team == red, priority asc": ListQuery(
            where=((Condition("options.options.team", ValueKind.STRING, Op.EQ, "red"),),),
            sort=Sort("options.priority"),
        ),
    }
    for name, query in queries.items():
        ms, total = time_query(tasks, query)
        print(f"{name:50s} {ms:8.2f} ms/query  (total={total})")


if __name__ == "__main__":
    main()
