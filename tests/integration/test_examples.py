"""The examples as the README runs them: the official SDK's worker on a
local grid, the official client against it, and the client's answer to the
usual mistakes (no grid at the address, a grid without its partition)."""

from __future__ import annotations

import pathlib
import re
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pyarmonik.settings import LocalSettings
from tests.grid_thread import GridThread

EXAMPLES = pathlib.Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def hello_grid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GridThread]:
    """The README's first grid: the hello_world worker on the default partition."""
    worker = f'"{sys.executable}" "{EXAMPLES / "hello_world" / "worker.py"}"'
    running = GridThread(LocalSettings(port=0, data_dir=tmp_path_factory.mktemp("grid"), worker=[worker])).start()
    yield running
    running.stop()


def _client(example: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / example / "client.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_hello_world_client_greets_through_the_grid(hello_grid: GridThread) -> None:
    done = _client("hello_world", "--endpoint", hello_grid.address, "Alice", "Bob")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Hello, Alice!", "Hello, Bob!"]


def test_a_client_pointed_at_no_grid_says_so_in_one_line() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = _client("hello_world", "--endpoint", f"127.0.0.1:{port}", "Alice")
    assert done.returncode == 1
    assert done.stderr.startswith("hello_world client: UNAVAILABLE: "), done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_client_on_a_grid_without_its_partition_says_so_in_one_line(hello_grid: GridThread) -> None:
    done = _client("subtasking", "--endpoint", hello_grid.address, "1", "2")
    assert done.returncode == 1
    assert done.stderr == "subtasking client: NOT_FOUND: partition not found: subtasking\n", done.stderr


def test_the_readmes_client_greets_through_the_grid(hello_grid: GridThread) -> None:
    """README.md, "Write your own worker and client": its client, as printed there."""
    readme = (EXAMPLES.parent / "README.md").read_text()
    [client] = [block for block in re.findall(r"```python\n(.*?)```", readme, re.DOTALL) if "ArmoniKSessions" in block]
    code = client.replace('"localhost:5001"', f'"{hello_grid.address}"')
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Hello, Alice!\n"
