"""The whole path on a kind cluster, as a user's CI runs it: build the
PyArmoniK image and the hello-world worker image with the documented script
(``docker/images.sh``), load them into kind, helm install the chart with a
cluster and a partition, wait for the cluster to be Ready, port-forward its
control plane and run the hello-world example client (the official ArmoniK
client only) against it, then ``helm uninstall --wait``, which must leave no
custom resource behind.

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

from tests import helpers
from tests.k8s import chart

from . import kind

pytestmark = pytest.mark.e2e

ROOT = pathlib.Path(__file__).parents[2]
TAG = "e2e"
IMAGES_SCRIPT = ROOT / "docker" / "images.sh"
CLUSTER = "grid"
READY_TIMEOUT = "600s"
CLIENT_TIMEOUT = 180


@pytest.fixture(scope="module")
def kind_cluster() -> Iterator[kind.Kind]:
    kind.require_opt_in()
    with kind.cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def images(kind_cluster: kind.Kind) -> tuple[str, str]:
    """Both images, built from this checkout by the documented script and
    loaded into the kind nodes: ``(pyarmonik image, worker image)``."""
    built = kind_cluster.run(str(IMAGES_SCRIPT), "--tag", TAG)
    image, worker = images_of(built.stderr)
    kind_cluster.load(image, worker)
    return image, worker


def images_of(script_output: str) -> tuple[str, str]:
    """The two names ``docker/images.sh`` reports on its ``images:`` line."""
    (line,) = [line for line in script_output.splitlines() if line.startswith("images: ")]
    image, worker = line.split()[1:]
    return image, worker


@pytest.fixture
def release(kind_cluster: kind.Kind, images: tuple[str, str], tmp_path: pathlib.Path) -> Iterator[str]:
    """The chart installed with a cluster and the "default" partition; uninstalled afterwards."""
    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    image, worker = images
    repository, tag = image.rsplit(":", 1)
    values = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "operator": {"logFormat": "text"},
        "cluster": {"enabled": True, "name": CLUSTER, "spec": {"redis": {"managed": {"storage": "256Mi"}}}},
        "partitions": [
            {
                "name": "default",
                "spec": {"worker": {"image": worker, "imagePullPolicy": "Never"}, "podReserved": 1, "podMax": 2},
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
        uninstalled = kind_cluster.helm("uninstall", "e2e", "--namespace", namespace, "--wait", "--timeout", "5m",
                                        check=False)  # fmt: skip
        left = kind_cluster.kubectl("get", "akc,akp,deployments,statefulsets", "-n", namespace, "-o", "name",
                                    check=False).stdout.split()  # fmt: skip
        kind_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        assert uninstalled.returncode == 0, uninstalled.stderr
        assert left == [], f"helm uninstall --wait left {left}"


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
