"""The peers, each run on the same workload with ``--workers`` worker
processes and its results collected by the client: Dask (``LocalCluster``),
Celery (Redis broker and result backend) and Ray. Each is optional (the
``peers`` extra): a missing one is skipped with its reason.

Each system is a context manager that starts it (not measured) and yields a
runner: ``runner(workload, progress) -> Run``, called for the warm-up and
then once per round. Phases use each system's own bulk API where it has one
(``Client.map``/``Client.gather``, ``ray.get`` of a list), the per-task one
otherwise (``apply_async``, ``AsyncResult.get``).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import importlib.util
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import peer_tasks, servers
from bench.workload import BenchError, Run, Tracker, Workload

Runner = Callable[[Workload, Tracker], Run]
PEERS = ("dask", "celery", "ray")
_MODULES = {"dask": "distributed", "celery": "celery", "ray": "ray"}


def missing(peer: str) -> str | None:
    """Why ``peer`` cannot run here, or None."""
    if importlib.util.find_spec(_MODULES[peer]) is None:
        return f"{_MODULES[peer]} is not installed (pip install -e '.[peers]')"
    return None


def system(peer: str, workload: Workload, root: Path) -> contextlib.AbstractContextManager[Runner]:
    return {"dask": dask_system, "celery": celery_system, "ray": ray_system}[peer](workload, root)


# -- Dask ---------------------------------------------------------------------
@contextlib.contextmanager
def dask_system(workload: Workload, root: Path) -> Iterator[Runner]:
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workload.workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    try:
        yield functools.partial(_dask_run, client)
    finally:
        client.close()
        cluster.close()


def _dask_run(client: object, workload: Workload, progress: Tracker) -> Run:
    from dask.distributed import Client

    assert isinstance(client, Client)
    measured = Run("dask", workload.tasks)
    available = Availability(measured, progress("processing", workload.tasks))
    futures = client.map(
        peer_tasks.work,
        [workload.payload] * workload.tasks,
        duration_ms=workload.duration_ms,
        result_bytes=workload.result_bytes,
        pure=False,
    )
    measured.submitted = [measured.started] * workload.tasks
    measured.submission_end = time.perf_counter()
    progress("submission", workload.tasks)(workload.tasks)
    for index, future in enumerate(futures):
        future.add_done_callback(functools.partial(available.mark, index))
    available.wait(workload.timeout_s)
    values = client.gather(futures)
    _check(values, workload, "dask")
    progress("retrieval", workload.tasks)(workload.tasks)
    measured.retrieval_end = time.perf_counter()
    return measured


class Availability:
    """Per-task availability times set from another thread (a callback)."""

    def __init__(self, measured: Run, advance: Callable[[int], None]) -> None:
        self.measured = measured
        measured.available = [0.0] * measured.tasks
        self._left = measured.tasks
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._advance = advance

    def mark(self, index: int, *_: object, at: float | None = None) -> None:
        now = time.perf_counter() if at is None else at
        with self._lock:
            if self.measured.available[index] == 0.0:
                self.measured.available[index] = now
                self._left -= 1
                if self._left == 0:
                    self._done.set()
        self._advance(1)

    def wait(self, timeout: float) -> None:
        if not self._done.wait(timeout):
            raise BenchError(f"{self.measured.system}: {self._left} tasks still running after {timeout:.0f} s")
        self.measured.processing_end = max(self.measured.available)


def _check(values: list[bytes], workload: Workload, peer: str) -> None:
    if len(values) != workload.tasks or any(len(v) != workload.result_bytes for v in values):
        raise BenchError(f"{peer}: the results are not the {workload.tasks} of {workload.result_bytes} bytes expected")


# -- Celery -------------------------------------------------------------------
@contextlib.contextmanager
def celery_system(workload: Workload, root: Path) -> Iterator[Runner]:
    with servers.redis_server(root / "celery-redis", aof=False) as url:
        os.environ["PYARMONIK_BENCH_CELERY_REDIS"] = url
        sys.modules.pop("bench.celery_app", None)  # the app reads its URL when imported
        from bench import celery_app

        command = [
            sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker", "--concurrency",
            str(workload.workers), "--pool", "prefork", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--loglevel", "WARNING",
        ]  # fmt: skip
        log = root / "logs" / "celery-worker.log"
        # Pickle (bytes travel as bytes) makes Celery refuse to run as root
        # unless told: the broker here is a throwaway one of this run.
        worker = servers.spawn(command, log, os.environ | {"C_FORCE_ROOT": "1"})
        try:
            servers.wait_until("celery worker", lambda: bool(celery_app.app.control.ping(timeout=0.5)), worker, log)
            yield functools.partial(_celery_run, celery_app)
        finally:
            servers.stop(worker, grace=10)
            celery_app.app.close()


def _celery_run(celery_app: object, workload: Workload, progress: Tracker) -> Run:
    from celery.result import ResultSet

    work = celery_app.work  # type: ignore[attr-defined]
    measured = Run("celery", workload.tasks)
    advance = progress("submission", workload.tasks)
    results = []
    for _ in range(workload.tasks):
        measured.submitted.append(time.perf_counter())
        results.append(work.apply_async((workload.payload, workload.duration_ms, workload.result_bytes)))
        advance(1)
    measured.submission_end = time.perf_counter()
    index = {r.id: i for i, r in enumerate(results)}
    available = Availability(measured, progress("processing", workload.tasks))
    # Read once submission is over, so the clock of each result is the
    # worker's ``date_done`` (wall clock, same machine), not the read.
    wall_to_perf = time.perf_counter() - time.time()
    for task_id, meta in ResultSet(results).iter_native(timeout=workload.timeout_s, interval=0.01):
        available.mark(index[task_id], at=_wall(meta.get("date_done")) + wall_to_perf)
    available.wait(0)
    advance = progress("retrieval", workload.tasks)
    values = []
    for result in results:
        values.append(result.get(timeout=workload.timeout_s))
        advance(1)
    measured.retrieval_end = time.perf_counter()
    _check(values, workload, "celery")
    for result in results:
        result.forget()
    return measured


def _wall(date_done: object) -> float:
    """A Celery ``date_done`` (datetime or ISO text, UTC) as ``time.time()``."""
    if isinstance(date_done, str):
        date_done = datetime.datetime.fromisoformat(date_done)
    if not isinstance(date_done, datetime.datetime):
        return time.time()  # not recorded: the read is the best clock left
    if date_done.tzinfo is None:
        date_done = date_done.replace(tzinfo=datetime.UTC)
    return date_done.timestamp()


# -- Ray ----------------------------------------------------------------------
@contextlib.contextmanager
def ray_system(workload: Workload, root: Path) -> Iterator[Runner]:
    import ray

    ray.init(
        num_cpus=workload.workers,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        _temp_dir=str(root / "ray"),
    )
    try:
        remote = ray.remote(num_cpus=1)(peer_tasks.work)
        yield functools.partial(_ray_run, remote)
    finally:
        ray.shutdown()


def _ray_run(remote: object, workload: Workload, progress: Tracker) -> Run:
    import ray

    measured = Run("ray", workload.tasks)
    advance = progress("submission", workload.tasks)
    available = Availability(measured, progress("processing", workload.tasks))
    refs: list[Any] = []
    # Waited on from a thread while the main one submits: tasks complete
    # during submission, and their clock is when ``ray.wait`` sees them.
    poller = threading.Thread(target=_ray_poll, args=(refs, available, workload), daemon=True)
    poller.start()
    for _ in range(workload.tasks):
        measured.submitted.append(time.perf_counter())
        refs.append(remote.remote(workload.payload, workload.duration_ms, workload.result_bytes))  # type: ignore[attr-defined]
        advance(1)
    measured.submission_end = time.perf_counter()
    poller.join(workload.timeout_s)
    available.wait(0)
    values = ray.get(refs)
    progress("retrieval", workload.tasks)(workload.tasks)
    measured.retrieval_end = time.perf_counter()
    _check(values, workload, "ray")
    return measured


def _ray_poll(refs: list[Any], available: Availability, workload: Workload) -> None:
    import ray

    seen, pending = 0, list[Any]()
    position: dict[Any, int] = {}
    deadline = time.monotonic() + workload.timeout_s
    while seen < workload.tasks or pending:
        if time.monotonic() > deadline:
            return
        new = refs[seen:]  # appended by the submitting thread
        position.update((ref, seen + i) for i, ref in enumerate(new))
        seen += len(new)
        pending += new
        if not pending:
            time.sleep(0.001)
            continue
        ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.01, fetch_local=False)
        for ref in ready:
            available.mark(position[ref])
