"""The ``k8s`` fixture: a real Kubernetes control plane with fake nodes, once per session.

The binaries come from ``tests.k8s.testbed``'s cache. Building them takes
many minutes, far beyond a test's timeout, so it is never done inside a test:
CI builds them before pytest runs, and as a fallback (``CI=true`` or
``PYARMONIK_TESTBED_BUILD=1``) this conftest builds them once collection is
over and before the first test starts. Without them the tests skip locally
(saying how to build them) and fail under ``CI=true``, like every other
integration server (``tests.servers.skip_or_fail``). A test bed that is
built but does not start fails everywhere: that is a bug, not a missing tool.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator

import pytest

from tests import servers

from . import chart, controlplane, testbed

BUILD_VARIABLE = "PYARMONIK_TESTBED_BUILD"
BUILD_HINT = "build them with: python -m tests.k8s.testbed build"

#: Why the fallback build failed, for the fixture to report.
_build_failure: list[str] = []


def _build_allowed() -> bool:
    return os.environ.get(BUILD_VARIABLE) == "1" or os.environ.get("CI", "").lower() == "true"


def pytest_collection_finish(session: pytest.Session) -> None:
    """The fallback build, outside every test's timeout, only when a k8s test is to run."""
    if (
        not _build_allowed()
        or not testbed.missing()
        or not any(item.get_closest_marker("k8s") for item in session.items)
    ):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    log = reporter.write_line if reporter else print
    try:
        testbed.build(log=log)
    except (subprocess.CalledProcessError, OSError) as error:
        _build_failure.append(f"the test bed build failed: {error}")


@pytest.fixture(scope="session")
def k8s() -> Iterator[controlplane.ControlPlane]:
    """A control plane (etcd, kube-apiserver, kube-controller-manager,
    kube-scheduler, kwok) on free ports of 127.0.0.1 with two CPU and two GPU
    fake nodes; its ``kubectl``/``helm`` run against it through ``env``."""
    bin_dir = testbed.bin_dir()
    absent = testbed.missing(bin_dir)
    if absent:
        why = _build_failure[0] if _build_failure else f"no {', '.join(absent)} in {bin_dir}"
        servers.skip_or_fail(f"Kubernetes test bed unavailable: {why}; {BUILD_HINT}")
    directory = pathlib.Path(tempfile.mkdtemp(prefix="pyarmonik-k8s-"))
    try:
        plane = controlplane.start(bin_dir, directory)
    except controlplane.StartupError as error:
        shutil.rmtree(directory, ignore_errors=True)
        pytest.fail(f"Kubernetes test bed did not start: {error}", pytrace=False)
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture
def namespace(k8s: controlplane.ControlPlane) -> Iterator[str]:
    """A namespace of its own for one test, ready for pods (its default
    service account exists), deleted afterwards without waiting."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    k8s.kubectl("create", "namespace", name)
    k8s.wait_for(lambda: k8s.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0)
    try:
        yield name
    finally:
        k8s.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def crds(k8s: controlplane.ControlPlane) -> controlplane.ControlPlane:
    """The test bed with the CRDs of ``manifests/crds`` installed and established."""
    k8s.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(chart.ROOT / "manifests" / "crds"))
    for crd in ("armonikclusters.pyarmonik.io", "armonikpartitions.pyarmonik.io"):
        k8s.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=30s")
    return k8s


@pytest.fixture(scope="module")
def helm() -> str:
    """A helm binary (the test bed's, else PATH's), for tests that need no cluster."""
    binary = chart.helm_binary()
    if binary is None:
        servers.skip_or_fail("no helm: build the test bed (python -m tests.k8s.testbed build) or put helm on PATH")
    return binary
