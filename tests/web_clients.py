"""Running the Node and browser clients of ``tests/web`` from pytest.

Their npm packages are installed by ``.ci/run`` (``npm ci`` in tests/web,
from its committed package-lock.json) and Chromium by apt-get: missing,
the tests skip locally with the reason and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
from typing import Any

from tests.servers import skip_or_fail

WEB = pathlib.Path(__file__).parent / "web"
CHROMIUM = pathlib.Path("/usr/bin/chromium")
#: A 10 MB download decoded by grpc-web in text mode takes Node ~10 s here.
NODE_TIMEOUT = 120.0


def node() -> str:
    """The ``node`` binary, with tests/web's packages installed; else skip (fail under CI)."""
    found = shutil.which("node")
    if found is None:
        skip_or_fail("node is not installed (Node 20+; .ci/run expects it on the machine)")
    if not (WEB / "node_modules" / "grpc-web").is_dir():
        skip_or_fail("tests/web's npm packages are missing: run `npm ci` in tests/web (as .ci/run does)")
    return found


def chromium() -> pathlib.Path:
    if not CHROMIUM.is_file():
        skip_or_fail(f"{CHROMIUM} is missing: apt-get install -y chromium (as .ci/run does)")
    return CHROMIUM


def run(script: str, *args: str, timeout: float = NODE_TIMEOUT) -> Any:
    """``node tests/web/<script> ARGS``: the JSON of the last line it prints."""
    process = subprocess.run(
        [node(), str(WEB / script), *args], cwd=WEB, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = process.stdout.strip().splitlines()
    assert process.returncode == 0 and lines, f"node {script} {' '.join(args)} failed: {process.stdout}{process.stderr}"
    return json.loads(lines[-1])


def start(script: str, *args: str) -> subprocess.Popen[str]:
    """``node tests/web/<script> ARGS`` driven line by line through stdin and stdout."""
    return subprocess.Popen(
        [node(), str(WEB / script), *args],
        cwd=WEB,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_json_line(process: subprocess.Popen[str]) -> Any:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, f"node exited early: {process.stderr.read() if process.stderr else ''}"
    return json.loads(line)
