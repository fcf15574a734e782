"""The README's Kubernetes commands, run as written on the test bed: from a
checkout to a grid, and back to nothing.

What the bed cannot do is done by other means or left out, and said so:

- ``docker/images.sh`` runs with ``--dry-run`` (no Docker engine here);
- the in-cluster operator is scheduled but runs no container (kwok): the
  operator runs beside the bed, with a token of the chart's own
  ServiceAccount, so with the chart's rights and no more;
- ``kubectl wait --for=condition=Ready`` becomes a wait for the grid's
  children: the managed Redis is reachable inside a cluster only, so an
  operator outside it never sees the partition ``Declared``, and no
  container would answer the port-forward and the example client (the data
  path is the integration tests').

The namespace is the test's own instead of ``pyarmonik``.
"""

from __future__ import annotations

import pathlib
import re
import shlex
import subprocess
from typing import Any

import pytest

from . import controlplane, operator_process
from .test_images import REGISTRY, ROOT, SCRIPT, VERSION, documented_path

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(400)]

README = ROOT / "README.md"
RELEASE = "pyarmonik"
#: The budget of one command that waits (a deletion, an uninstall, a namespace's deletion).
COMMAND_SECONDS = 150


def steps(block: str) -> list[tuple[list[str], str | None]]:
    """The block's commands in order, each with the heredoc it reads (or None);
    ``a; b`` is two commands, comments and a trailing ``&`` go."""
    found: list[tuple[list[str], str | None]] = []
    lines = iter(re.sub(r"\\\n\s*", " ", block).splitlines())
    for line in lines:
        heredoc = None
        if "<<YAML" in line:
            heredoc = "\n".join(iter(lambda: next(lines), "YAML")) + "\n"
            line = line.replace("<<YAML", "")
        for command in line.split(";"):
            words = shlex.split(command, comments=True)
            if words:
                found.append(([word for word in words if word != "&"], heredoc))
    return found


def test_the_readmes_commands_make_a_grid_and_take_everything_away(
    k8s: controlplane.ControlPlane, namespace: str, tmp_path: pathlib.Path
) -> None:
    block = documented_path(README).replace("-n pyarmonik", f"-n {namespace}")
    block = block.replace("namespace pyarmonik", f"namespace {namespace}")
    operator: operator_process.Operator | None = None
    ran: list[str] = []
    try:
        for words, heredoc in steps(block):
            tool = words[0]
            if tool == "docker/images.sh":
                result = run([str(SCRIPT), "--dry-run", *words[1:]], env=k8s.env)
                assert f"{REGISTRY}/pyarmonik-hello-world-worker" in result.stderr
            elif tool == "helm":
                run([str(k8s.bin / "helm"), *words[1:]], env=k8s.env)
                if words[1] == "install":
                    operator = start_operator(k8s, namespace, tmp_path)
            elif tool == "kubectl" and words[1:3] == ["-n", namespace] and words[3] == "wait":
                wait_for_the_grid(k8s, namespace, operator)
            elif tool == "kubectl" and "port-forward" in words:
                continue  # nothing to forward to: no container runs on the bed
            elif tool == "kubectl":
                run([str(k8s.bin / "kubectl"), *words[1:]], env=k8s.env, input=heredoc, cwd=ROOT)
            elif tool in ("python", "kill") or tool.startswith("REGISTRY="):
                continue  # the client (no container to answer it), its port-forward's end, the variable
            else:
                raise AssertionError(f"a README command this test does not know: {words}")
            ran.append(" ".join(words[:3]))
    finally:
        if operator is not None:
            operator.stop()
    assert [step for step in ran if not step.startswith("kubectl apply")] == [
        "docker/images.sh --push registry.example.com/you",
        "helm install pyarmonik",
        f"kubectl -n {namespace}",  # the wait, as far as the bed goes
        f"kubectl -n {namespace}",  # the grid's deletion
        "helm uninstall pyarmonik",
        "kubectl delete namespace",
    ]
    assert len([step for step in ran if step.startswith("kubectl apply")]) == 2  # the cluster, the partition
    # Back to nothing: the namespace and all it held gone, and the release's cluster-wide objects too.
    assert k8s.kubectl("get", "namespace", namespace, check=False).returncode != 0
    assert k8s.kubectl("get", "clusterrole", RELEASE, check=False).returncode != 0
    assert [o for o in k8s.get("akc,akp", "-A")["items"] if o["metadata"]["namespace"] == namespace] == []


def run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False, **options)
    assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"
    return result


def start_operator(k8s: controlplane.ControlPlane, namespace: str, tmp_path: pathlib.Path) -> operator_process.Operator:
    """The operator the chart installed, as it would run: under its
    ServiceAccount, with the settings of its ConfigMap."""
    kubeconfig = k8s.kubeconfig_of(namespace, RELEASE, tmp_path / "operator-kubeconfig")
    settings = k8s.get("configmap", RELEASE, "-n", namespace)["data"]
    settings.pop("PYARMONIK_LIVENESS_PORT")  # a free port of its own, beside the tests
    operator = operator_process.Operator(k8s, tmp_path / "operator.log", kubeconfig=kubeconfig, environment=settings)
    operator.start()
    return operator


def wait_for_the_grid(
    k8s: controlplane.ControlPlane, namespace: str, operator: operator_process.Operator | None
) -> None:
    """What the bed can show of a Ready grid: its children, built from the
    images the README pushed, and the partition waiting only for its Redis."""
    assert operator is not None, "the README applies a grid before installing the operator"

    def built() -> bool:
        listed = {d["metadata"]["name"] for d in k8s.get("deployments", "-n", namespace)["items"]}
        return {"grid-control-plane", "grid-partition-default"} <= listed

    def explain() -> str:
        return f"{k8s.describe(namespace, 'akc', 'akp', 'deployments')}\noperator:\n{operator.tail(40)}"

    k8s.wait_for(built, timeout=120, explain=explain)
    images = {
        container["name"]: container["image"]
        for name in ("grid-control-plane", "grid-partition-default")
        for container in k8s.get("deployment", name, "-n", namespace)["spec"]["template"]["spec"]["containers"]
    }
    assert images == {
        "control-plane": f"{REGISTRY}/pyarmonik:{VERSION}",
        "agent": f"{REGISTRY}/pyarmonik:{VERSION}",
        "worker": f"{REGISTRY}/pyarmonik-hello-world-worker:{VERSION}",
    }
