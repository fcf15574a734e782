"""The ``pyarmonik`` command as a user runs it: a real process."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys

import grpc
import pytest
from armonik.client import ArmoniKVersions

from tests.helpers import wait_for

ROOT = pathlib.Path(__file__).parents[2]


def _pyarmonik(*args: str, cwd: pathlib.Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pyarmonik", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)},
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_demo_runs_both_examples_and_prints_their_results(tmp_path: pathlib.Path) -> None:
    process = _pyarmonik("local", "--demo", "--port", "0", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output
    assert "Hello, Ada 0!" in output
    assert "sum of squares of 1..20 = 2870" in output


def test_local_serves_the_api_until_sigint_then_exits_cleanly(tmp_path: pathlib.Path) -> None:
    port = _free_port()
    process = _pyarmonik("local", "--port", str(port), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            versions = ArmoniKVersions(channel)

            def answers() -> bool:
                try:
                    return bool(versions.list_versions()["core"])
                except grpc.RpcError:
                    return False

            wait_for(answers, timeout=30, interval=0.1)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "serving on 127.0.0.1" in output and "Shutting down" in output


def test_port_in_use_is_reported_in_one_line(tmp_path: pathlib.Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _pyarmonik("local", "--port", str(port), "--data-dir", str(tmp_path), cwd=tmp_path)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in output
    assert f"127.0.0.1:{port}" in output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["control-plane", "--redis-url", "redis://127.0.0.1:1/0"], "cannot reach Redis at redis://127.0.0.1:1/0"),
        (["agent", "--redis-url", "redis://:secret@127.0.0.1:1/0"], "cannot reach Redis at redis://:***@127.0.0.1:1/0"),
        (["control-plane", "--s3-endpoint", "127.0.0.1:1"], "S3 endpoint 127.0.0.1:1"),
        (["local", "--s3", "127.0.0.1:1"], "S3 endpoint 127.0.0.1:1"),
        (["agent", "--lease-seconds", "-1"], "lease_seconds"),
        (["control-plane", "--port", "70000"], "port"),
    ],
)
def test_unreachable_storage_and_bad_settings_are_reported_in_one_line(
    tmp_path: pathlib.Path, args: list[str], expected: str
) -> None:
    process = _pyarmonik(*args, cwd=tmp_path)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert expected in output.replace("\n", " ")
    assert "Traceback" not in output and "secret" not in output


def test_settings_come_from_the_environment_when_no_flag_is_given(tmp_path: pathlib.Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pyarmonik", "control-plane"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT), "PYARMONIK_REDIS_URL": "redis://127.0.0.1:2/0"},
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "cannot reach Redis at redis://127.0.0.1:2/0" in output
