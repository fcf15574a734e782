"""Fixtures shared by every test tier: real servers started once per session."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from pyarmonik.storage.objects.s3 import S3Config

from . import servers

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
        seaweedfs.stop()
