"""Helpers shared by every test tier."""

from __future__ import annotations

import asyncio
import inspect
import pathlib
import subprocess
import time
from collections.abc import Awaitable, Callable

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pyarmonik.metrics import Metrics

DEFAULT_TIMEOUT = 10.0


def wait_for(predicate: Callable[[], object], timeout: float = DEFAULT_TIMEOUT, *, interval: float = 0.01) -> object:
    """Polls ``predicate`` until it returns a truthy value, which is returned.

    The one way tests wait: bounded, and failing with ``AssertionError``
    (naming the predicate) instead of hanging when the condition never holds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _not_met(predicate, timeout)
        time.sleep(interval)


async def wait_for_async(
    predicate: Callable[[], object | Awaitable[object]], timeout: float = DEFAULT_TIMEOUT, *, interval: float = 0.01
) -> object:
    """``wait_for`` inside an event loop, which keeps running between polls;
    ``predicate`` may be a coroutine function."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() >= deadline:
            raise _not_met(predicate, timeout)
        await asyncio.sleep(interval)


def _not_met(predicate: Callable[[], object], timeout: float) -> AssertionError:
    return AssertionError(f"condition {getattr(predicate, '__name__', predicate)!r} not met within {timeout} s")


def grpc_code(call: Callable[[], object]) -> grpc.StatusCode:
    """The status code ``call`` fails with; ``AssertionError`` when it succeeds."""
    try:
        call()
    except grpc.RpcError as error:
        return error.code()  # type: ignore[attr-defined, no-any-return]
    raise AssertionError("the call succeeded; an error status was expected")


async def scraped(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed as Prometheus would."""
    text = (await metrics.render()).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def run_command(
    command: list[str], *, cwd: pathlib.Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs a command that starts servers of its own (a benchmark); past
    ``timeout`` it gets SIGTERM, which stops what it started (SIGKILL would
    leave them running), and the test fails with its output's tail."""
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            out, err = process.communicate(timeout=60)
            pytest.fail(f"{' '.join(command)} took over {timeout} s:\n{out[-3000:]}{err[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)
