"""The Celery app of the benchmark: Redis as broker and result backend (the
URL in ``PYARMONIK_BENCH_CELERY_REDIS``), pickle so that bytes travel as
bytes, and the peer task. Imported by ``bench.peers`` and by the
``celery worker`` it starts."""

from __future__ import annotations

import os

from celery import Celery

from bench import peer_tasks

URL = os.environ.get("PYARMONIK_BENCH_CELERY_REDIS", "redis://127.0.0.1:6379/0")
app = Celery("bench", broker=URL, backend=URL)
app.conf.update(
    task_serializer="pickle",
    result_serializer="pickle",
    accept_content=["pickle"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
work = app.task(name="bench.work")(peer_tasks.work)
