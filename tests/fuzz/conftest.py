"""The fuzzed grid, its world of real ids, hypothesis profiles, and the
report of every call made.

Profiles (``PYARMONIK_FUZZ_PROFILE``): ``ci`` (the default, 40 examples
per RPC and test, under a minute for the whole directory) and ``long``
(2,000 examples per RPC and test, an hour or two); ``PYARMONIK_FUZZ_EXAMPLES``
sets another count. Both have no
deadline: a slow example is the grid's business, a hang is the call
deadline's (``rpcs.CALL_TIMEOUT``).

The grid runs on Redis, a database of its own on the tests' Redis server
(``redis_stores.FUZZ_DATABASE``: other tests flush theirs).

At the end of the session, the calls per RPC and status are printed and
written as JSON to ``--fuzz-report PATH`` (default: ``fuzz-report.json``
in pytest's base temporary directory).
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, settings

from tests import redis_stores
from tests.fuzz import invariants
from tests.fuzz.agent import RunningTask, running_task
from tests.fuzz.world import World
from tests.grid_thread import GridThread
from tests.integration.conftest import RunningGrid

PROFILE_VARIABLE = "PYARMONIK_FUZZ_PROFILE"
_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    "print_blob": True,
}
#: Overrides the profile's examples per RPC and test (e.g. 300 to hunt a little longer).
EXAMPLES_VARIABLE = "PYARMONIK_FUZZ_EXAMPLES"
settings.register_profile("ci", max_examples=40, **_COMMON)
settings.register_profile("long", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get(PROFILE_VARIABLE, "ci"))
if os.environ.get(EXAMPLES_VARIABLE):
    settings.register_profile("custom", settings(max_examples=int(os.environ[EXAMPLES_VARIABLE])))
    settings.load_profile("custom")

_REPORT: dict[str, object] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each fuzz test's timeout grows with its examples (the long profile
    runs for minutes per RPC), beyond the suite's per-test default."""
    seconds = 60 + settings().max_examples // 2
    for item in items:
        if item.get_closest_marker("fuzz") is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(max(seconds, 120)))


@pytest.fixture(scope="session")
def fuzz_grid(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GridThread]:
    """The grid every fuzz test calls, on a database of its own."""
    _REPORT.setdefault("default_path", tmp_path_factory.getbasetemp() / "fuzz-report.json")
    _REPORT.setdefault("started", time.monotonic())
    database = redis_stores.emptied_database(redis_server, redis_stores.FUZZ_DATABASE)
    running = RunningGrid(tmp_path_factory.mktemp("fuzz-grid"), database)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def fuzz_channel(fuzz_grid: GridThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(fuzz_grid.address) as channel:
        yield channel


@pytest.fixture(scope="session")
def world(fuzz_channel: grpc.Channel) -> World:
    return World(fuzz_channel)


@pytest.fixture(scope="session")
def control_plane(fuzz_grid: GridThread, fuzz_channel: grpc.Channel) -> invariants.Target:
    return invariants.Target(channel=fuzz_channel, grid=fuzz_grid, health=fuzz_channel)


@pytest.fixture(scope="session")
def running(fuzz_grid: GridThread, world: World) -> Iterator[RunningTask]:
    with running_task(fuzz_grid, world) as task:
        yield task


@pytest.fixture(scope="session")
def agent(running: RunningTask, fuzz_channel: grpc.Channel) -> Iterator[invariants.Target]:
    """The Agent service; the control plane's health says the process is alive."""
    with grpc.insecure_channel(running.worker.agent_address) as channel:
        yield invariants.Target(
            channel=channel, grid=running.grid, health=fuzz_channel, unavailable_ok=True, extra_state=running.buffers
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    tally = invariants.TALLY
    if not tally.total:
        return
    seconds = time.monotonic() - float(_REPORT.get("started", time.monotonic()))  # type: ignore[arg-type]
    path = config.getoption("fuzz_report", None) or _REPORT.get("default_path")
    terminalreporter.section("fuzz")
    terminalreporter.write_line(
        f"fuzz: {tally.total} calls in {seconds:.0f} s ("
        + ", ".join(f"{what} {spent:.0f} s" for what, spent in tally.seconds.items())
        + ")"
    )
    for line in tally.lines():
        terminalreporter.write_line(f"  {line}")
    if path is not None:
        tally.write(pathlib.Path(str(path)), seconds)
        terminalreporter.write_line(f"fuzz report: {path}")
