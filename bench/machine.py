"""The machine and the versions a run was measured with (for RESULTS.md)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import servers, targets

_PACKAGES = ("grpcio", "armonik", "redis", "hiredis", "protobuf", "dask", "distributed", "celery", "ray")


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _weed_version() -> str:
    """``weed version`` prints ``version 8000GB 4.48 pypi linux amd64``."""
    try:
        out = subprocess.run([servers.weed_binary(), "version"], capture_output=True, text=True, timeout=30).stdout
    except (servers.BenchError, OSError, subprocess.SubprocessError):
        return "none"
    words = out.split()
    return words[2] if len(words) > 2 else out.strip()


def _grid(grid_python: str) -> dict[str, str]:
    """pyarmonik's version and git commit, as the grid's interpreter sees them."""
    script = "import pyarmonik, pathlib; print(pyarmonik.__version__); print(pathlib.Path(pyarmonik.__file__).parent)"
    try:
        out = subprocess.run(
            [grid_python, "-c", script], capture_output=True, text=True, timeout=30, check=True,
            env=targets.environment(), cwd=tempfile.gettempdir(),
        )  # fmt: skip
        version, folder = out.stdout.split()
        commit = subprocess.run(
            ["git", "-C", folder, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except (OSError, ValueError, subprocess.SubprocessError):
        return {"pyarmonik": "unknown"}
    return {"pyarmonik": version, "pyarmonik_commit": commit or "unknown", "grid_python": grid_python}


def describe(grid_python: str) -> dict[str, object]:
    versions: dict[str, str] = {"python": platform.python_version()}
    for package in _PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    versions["redis-server"] = servers.redis_version()
    versions["seaweedfs"] = _weed_version()
    versions |= _grid(grid_python)
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": _cpu_model(),
            "memory_gib": _memory_gib(),
            "os": platform.platform(),
            "python": sys.version.split()[0],
        },
        "versions": versions,
    }
