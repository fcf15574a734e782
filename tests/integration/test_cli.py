"""The ``pyarmonik`` command as a user runs it: a real process."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import threading

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


class Output:
    """What a running process prints, read by a thread so that a test can
    wait for a line while the process goes on."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                self._lines.append(line)

    def search(self, pattern: str) -> re.Match[str] | None:
        return next(filter(None, (re.search(pattern, line) for line in list(self._lines))), None)

    def text(self, timeout: float = 60) -> str:
        """Everything printed, once the process has closed its output."""
        self._reader.join(timeout)
        return "".join(self._lines)


def test_demo_runs_both_examples_and_prints_their_results(tmp_path: pathlib.Path) -> None:
    process = _pyarmonik("local", "--demo", "--port", "0", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output
    assert "Hello, Ada 0!" in output
    assert "sum of squares of 1..20 = 2870" in output


def test_local_serves_the_api_until_sigint_then_exits_cleanly(tmp_path: pathlib.Path) -> None:
    process = _pyarmonik("local", "--port", "0", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    output = Output(process)
    try:
        serving = wait_for(lambda: output.search(r"serving on 127\.0\.0\.1:(\d+)"), timeout=30, interval=0.1)
        with grpc.insecure_channel(f"127.0.0.1:{serving[1]}") as channel:  # type: ignore[index]
            assert ArmoniKVersions(channel).list_versions()["core"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    text = output.text()
    assert process.returncode == 0, text
    assert "Shutting down" in text


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
