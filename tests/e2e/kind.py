"""A kind cluster for the end-to-end test: found or created, and the tools
(docker, kind, kubectl, helm) that drive it, always on its own context.

Opt-in: nothing here runs unless ``PYARMONIK_E2E=1``. Then docker, kind,
kubectl and helm must be on PATH (helm may also be the Kubernetes test
bed's); a missing one skips locally and fails under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests import servers
from tests.k8s import chart

OPT_IN = "PYARMONIK_E2E"
CLUSTER_VARIABLE = "PYARMONIK_E2E_KIND_CLUSTER"
DEFAULT_CLUSTER = "pyarmonik-e2e"
TOOLS = ("docker", "kind", "kubectl")
#: One command's budget: image builds on a cold cache are the slowest.
COMMAND_TIMEOUT = 900


def require_opt_in() -> None:
    if os.environ.get(OPT_IN) != "1":
        pytest.skip(f"end-to-end tests on kind are opt-in: set {OPT_IN}=1 (needs docker, kind, kubectl, helm)")


@dataclass(frozen=True)
class Kind:
    """A kind cluster by name, and the tools pointed at its context."""

    name: str
    helm_binary: str

    @property
    def context(self) -> str:
        return f"kind-{self.name}"

    def run(
        self, *command: str, timeout: float = COMMAND_TIMEOUT, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def kubectl(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", "--context", self.context, *arguments, check=check)

    def helm(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(self.helm_binary, "--kube-context", self.context, *arguments, check=check)

    def load(self, *images: str) -> None:
        self.run("kind", "load", "docker-image", "--name", self.name, *images)

    def diagnostics(self, namespace: str) -> str:
        """What a failed run needs to be understood: the objects, events and operator logs."""
        parts = [
            self.kubectl("get", "akc,akp,all,pvc", "-n", namespace, "-o", "wide", check=False).stdout,
            self.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False).stdout[-4000:],
            self.kubectl(
                "logs", "-n", namespace, "-l", "app.kubernetes.io/component=operator", "--tail=100", check=False
            ).stdout,
        ]
        return "\n".join(parts)


@contextlib.contextmanager
def cluster() -> Iterator[Kind]:
    """The kind cluster named by ``PYARMONIK_E2E_KIND_CLUSTER`` (e.g. made by
    helm/kind-action), else one created here and deleted afterwards."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    helm = chart.helm_binary()
    if helm is None:
        missing.append("helm")
    if missing:
        servers.skip_or_fail(f"{OPT_IN}=1 but {', '.join(missing)} not on PATH")
    assert helm is not None
    name = os.environ.get(CLUSTER_VARIABLE, DEFAULT_CLUSTER)
    kind = Kind(name, helm)
    existing = kind.run("kind", "get", "clusters").stdout.split()
    created = name not in existing
    if created:
        kind.run("kind", "create", "cluster", "--name", name, "--wait", "120s")
    try:
        yield kind
    finally:
        if created:
            kind.run("kind", "delete", "cluster", "--name", name, check=False)


@contextlib.contextmanager
def port_forward(kind: Kind, namespace: str, service: str, remote: int) -> Iterator[int]:
    """``kubectl port-forward`` to ``service:remote`` on a free local port, stopped by its pid."""
    local = servers.free_port()
    process = subprocess.Popen(
        ["kubectl", "--context", kind.context, "-n", namespace, "port-forward", f"svc/{service}", f"{local}:{remote}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield local
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False
