"""The whole path on a kind cluster, as a user's CI runs it: build the
PyArmoniK image and the hello-world worker image, load them into kind, helm
install the chart with a cluster and a partition, wait for the cluster to be
Ready, port-forward its control plane and run the hello-world example client
(the official ArmoniK client only) against it, then helm uninstall.

Opt-in (``PYARMONIK_E2E=1``; see ``tests.e2e.kind``), for
``.github/workflows/e2e.yaml`` or a developer with docker and kind.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import yaml

import pyarmonik
from tests import helpers
from tests.k8s import chart

from . import kind

pytestmark = pytest.mark.e2e

ROOT = pathlib.Path(__file__).parents[2]
IMAGE = "pyarmonik:e2e"
WORKER_IMAGE = "hello-world-worker:e2e"
CLUSTER = "grid"
READY_TIMEOUT = "600s"
CLIENT_TIMEOUT = 180


@pytest.fixture(scope="module")
def kind_cluster() -> Iterator[kind.Kind]:
    kind.require_opt_in()
    with kind.cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def images(kind_cluster: kind.Kind) -> None:
    """Both images, built from this checkout and loaded into the kind nodes."""
    kind_cluster.run(
        "docker", "build", "--tag", IMAGE, "--build-arg", f"VERSION={pyarmonik.__version__}", str(ROOT)
    )  # fmt: skip
    kind_cluster.run(
        "docker", "build", "--tag", WORKER_IMAGE, "--file", str(ROOT / "docker" / "worker.Dockerfile"),
        str(ROOT / "examples" / "hello_world"),
    )  # fmt: skip
    kind_cluster.load(IMAGE, WORKER_IMAGE)


@pytest.fixture
def release(kind_cluster: kind.Kind, images: None, tmp_path: pathlib.Path) -> Iterator[str]:
    """The chart installed with a cluster and the "default" partition; uninstalled afterwards."""
    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    values = {
        "image": {"repository": IMAGE.split(":")[0], "tag": IMAGE.split(":")[1], "pullPolicy": "Never"},
        "operator": {"logFormat": "text"},
        "cluster": {"enabled": True, "name": CLUSTER, "spec": {"redis": {"managed": {"storage": "256Mi"}}}},
        "partitions": [
            {
                "name": "default",
                "spec": {"worker": {"image": WORKER_IMAGE, "imagePullPolicy": "Never"}, "podReserved": 1, "podMax": 2},
            }
        ],
    }
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    kind_cluster.helm(
        "install", "e2e", str(chart.CHART), "--namespace", namespace, "--create-namespace",
        "--values", str(values_file), "--wait", "--timeout", "5m",
    )  # fmt: skip
    try:
        yield namespace
    finally:
        kind_cluster.helm("uninstall", "e2e", "--namespace", namespace, "--wait", "--timeout", "5m", check=False)
        kind_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.mark.timeout(3600)
def test_the_hello_world_client_is_greeted_by_a_grid_the_chart_installed(kind_cluster: kind.Kind, release: str) -> None:
    namespace = release
    for resource in (f"akc/{CLUSTER}", "akp/default"):
        waited = kind_cluster.kubectl(
            "wait", resource, "-n", namespace, "--for=condition=Ready", f"--timeout={READY_TIMEOUT}", check=False
        )  # fmt: skip
        assert waited.returncode == 0, f"{resource} not Ready: {waited.stderr}\n{kind_cluster.diagnostics(namespace)}"
    with kind.port_forward(kind_cluster, namespace, f"{CLUSTER}-control-plane", 5001) as port:
        helpers.wait_for(lambda: kind.accepts(port), timeout=30, interval=0.5)
        client = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "hello_world" / "client.py"), "--endpoint", f"localhost:{port}",
             "Alice"],
            capture_output=True, text=True, timeout=CLIENT_TIMEOUT, check=False,
        )  # fmt: skip
    assert client.returncode == 0, f"{client.stderr}\n{kind_cluster.diagnostics(namespace)}"
    assert client.stdout.strip() == "Hello, Alice!"
