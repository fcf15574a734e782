"""The Helm chart as the tests see it: where it is, the helm that renders it,
and the CRDs' schemas that our own custom resources are checked against.

helm is the test bed's (``${PYARMONIK_TESTBED_CACHE:-~/.cache/pyarmonik-testbed}/
k8s-*/bin/helm``, from ``python -m tests.k8s.testbed build``), else the one on
PATH. Rendering needs no cluster, so these tests do not need the test bed to
run: only its helm. ``python -m tests.k8s.chart`` prints the values table of
the chart's README, generated from the comments of values.yaml.
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import re
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).parents[2]
CHART = ROOT / "charts" / "pyarmonik"
CI_VALUES = tuple(sorted((CHART / "ci").glob("*-values.yaml")))
CRD_FILES = tuple(sorted((CHART / "crds").glob("*.yaml")))
GROUP = "pyarmonik.io"
#: Helm may run for a while on a loaded 2-core machine, never forever.
HELM_TIMEOUT = 60


def helm_binary() -> str | None:
    """The test bed's helm (newest Kubernetes version first), else helm from PATH."""
    configured = os.environ.get("PYARMONIK_TESTBED_CACHE")
    cache = pathlib.Path(configured) if configured else pathlib.Path.home() / ".cache" / "pyarmonik-testbed"
    for candidate in sorted(cache.glob("k8s-*/bin/helm"), reverse=True):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("helm")


def helm(binary: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Runs helm, with no kubeconfig of the user's in reach (nothing here needs a cluster)."""
    env = {**os.environ, "KUBECONFIG": os.devnull}
    return subprocess.run(
        [binary, *arguments], capture_output=True, text=True, timeout=HELM_TIMEOUT, env=env, check=False
    )


def render(binary: str, *arguments: str, release: str = "demo", namespace: str = "pyarmonik") -> list[dict[str, Any]]:
    """``helm template`` of the chart: every rendered object (CRDs excluded), parsed."""
    result = helm(binary, "template", release, str(CHART), "--namespace", namespace, *arguments)
    if result.returncode != 0:
        raise AssertionError(f"helm template {' '.join(arguments)} failed: {result.stderr}")
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def values_arguments(values_file: pathlib.Path | None, extra: Sequence[str] = ()) -> list[str]:
    return [*(["--values", str(values_file)] if values_file else []), *extra]


def crds() -> dict[str, dict[str, Any]]:
    """The chart's CRDs by kind."""
    found = {}
    for path in CRD_FILES:
        crd = yaml.safe_load(path.read_text())
        found[crd["spec"]["names"]["kind"]] = crd
    return found


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's openAPIV3Schema as JSON Schema that, like the API server's strict
    field validation, refuses unknown fields where the CRD does not preserve them."""
    schema = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    # metadata is an ObjectMeta: the CRD leaves it open, the API server checks it.
    schema.get("properties", {}).get("metadata", {}).pop("additionalProperties", None)
    return schema


# -- The values table of the chart's README ------------------------------------------
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][\w.-]*):")


def values_rows(text: str) -> list[tuple[str, str]]:
    """Each documented key of values.yaml, dotted, with its ``# --`` comment.

    A ``# --`` comment documents the key below it; the comment lines after it
    continue it, up to the key or to an empty ``#`` line."""
    rows: list[tuple[str, str]] = []
    path: list[tuple[int, str]] = []
    description: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            description = [stripped[4:].strip()]
        elif stripped == "#":
            description = None
        elif stripped.startswith("#"):
            if description is not None:
                description.append(stripped[1:].strip())
        elif match := _KEY.match(line):
            indent = len(match["indent"])
            path = [(i, k) for i, k in path if i < indent] + [(indent, match["key"])]
            if description is not None:
                rows.append((".".join(k for _, k in path), " ".join(description)))
            description = None
    return rows


def values_table() -> str:
    """The README's table: key, default (from values.yaml), description."""
    text = (CHART / "values.yaml").read_text()
    values = yaml.safe_load(text)
    lines = ["| key | default | description |", "|---|---|---|"]
    for key, description in values_rows(text):
        value: Any = values
        for part in key.split("."):
            value = value[part]
        default = json.dumps(value, separators=(", ", ": "))
        lines.append(f"| `{key}` | `{default}` | {description.replace('|', '&#124;')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(values_table(), end="")
