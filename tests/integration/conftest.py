"""An in-process control plane for tests that use the official client.

The official ``armonik`` client is synchronous and blocks its thread, so the
grid runs in a background thread (``tests.grid_thread``), on the tests'
Redis: ``running_grid`` on the test's emptied database, and
``start_grid(tmp_path, redis_url)`` for a test module that needs a grid of
its own (on a database of its own: ``redis_stores.emptied_database``).
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import TaskOptions

from pyarmonik.settings import LocalSettings
from tests.grid_thread import GridThread

#: Small, so that tests exercise multi-chunk uploads and downloads cheaply.
CHUNK_SIZE = 64 * 1024
PARTITIONS = ("default", "other")


def default_options(**overrides: Any) -> TaskOptions:
    values: dict[str, Any] = {"max_duration": timedelta(seconds=60), "priority": 1, "max_retries": 2}
    values.update(overrides)
    return TaskOptions(**values)


class RunningGrid(GridThread):
    """``pyarmonik local`` without workers: the control plane over Redis at
    ``redis_url`` (objects in files under ``root``), served from a
    background thread."""

    def __init__(self, root: pathlib.Path, redis_url: str) -> None:
        super().__init__(
            LocalSettings(
                port=0,
                data_dir=root,
                partitions=list(PARTITIONS),
                data_chunk_max_size=CHUNK_SIZE,
                redis_url=redis_url,
            )
        )
        self.objects_root = root / "objects"


@contextlib.contextmanager
def start_grid(tmp_path: pathlib.Path, redis_url: str) -> Iterator[RunningGrid]:
    """A control plane on 127.0.0.1 (free port) over Redis at ``redis_url``, stopped on exit."""
    running = RunningGrid(tmp_path, redis_url)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def running_grid(tmp_path: pathlib.Path, redis_url: str) -> Iterator[RunningGrid]:
    with start_grid(tmp_path, redis_url) as running:
        yield running


@pytest.fixture
def channel(running_grid: RunningGrid) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(running_grid.address) as opened:
        yield opened


@pytest.fixture
def sessions(channel: grpc.Channel) -> ArmoniKSessions:
    return ArmoniKSessions(channel)


@pytest.fixture
def results(channel: grpc.Channel) -> ArmoniKResults:
    return ArmoniKResults(channel)


@pytest.fixture
def tasks(channel: grpc.Channel) -> ArmoniKTasks:
    return ArmoniKTasks(channel)


@pytest.fixture
def events(channel: grpc.Channel) -> ArmoniKEvents:
    return ArmoniKEvents(channel)


@pytest.fixture
def session_id(sessions: ArmoniKSessions) -> str:
    return sessions.create_session(default_options(), partition_ids=list(PARTITIONS))
