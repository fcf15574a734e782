"""``pyarmonik operator`` as a user runs it outside the cluster: a real
process with a kubeconfig, pointed at the test bed, stopped by its PID."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from tests import servers
from tests.k8s import controlplane

ROOT = pathlib.Path(__file__).parents[2]
#: Fast enough that repairs show within a test, slow enough to stay cheap.
RESYNC_SECONDS = 1.0
AUTOSCALE_SECONDS = 1.0


class Operator:
    def __init__(
        self,
        plane: controlplane.ControlPlane,
        log: pathlib.Path,
        *,
        resync_seconds: float = RESYNC_SECONDS,
        kubeconfig: pathlib.Path | None = None,
        arguments: tuple[str, ...] = (),
        environment: dict[str, str] | None = None,
    ) -> None:
        """``kubeconfig``: another identity than the test bed's admin (a
        ServiceAccount's token); ``arguments``: more flags of ``pyarmonik
        operator``; ``environment``: more variables (its settings, as the
        chart's ConfigMap gives them)."""
        self.plane, self.log = plane, log
        self.resync_seconds, self.kubeconfig, self.arguments = resync_seconds, kubeconfig, arguments
        self.environment = environment or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        [port] = servers.free_ports(1)
        command = [
            sys.executable, "-m", "pyarmonik", "operator", "--resync-seconds", str(self.resync_seconds),
            "--liveness-port", str(port), "--log-level", "INFO", "--autoscale-seconds", str(AUTOSCALE_SECONDS),
            *self.arguments,
        ]  # fmt: skip
        # A fresh /tmp at each start, as in its pod (an emptyDir): the API
        # client's discovery cache starts cold, as after a pod restart.
        self.starts += 1
        scratch = self.log.parent / f"tmp-{self.starts}"
        scratch.mkdir(exist_ok=True)
        env = {**os.environ, **self.plane.env, **self.environment, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch)}
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: an operator pod evicted mid-way."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextlib.contextmanager
def running(plane: controlplane.ControlPlane, directory: pathlib.Path, **options: Any) -> Iterator[Operator]:
    operator = Operator(plane, directory / "operator.log", **options)
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()
