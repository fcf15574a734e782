"""The images of the Kubernetes path: ``docker/images.sh`` builds and pushes
them, and the README's and the chart README's commands, the chart and the
examples all name them the same way.

No Docker engine is needed: the script's ``--dry-run`` prints the docker
commands it would run. The documented commands are read from the docs
themselves, ``$REGISTRY`` replaced, and the chart rendered with their
``--set`` values (helm only, like ``test_chart.py``).
"""

from __future__ import annotations

import itertools
import pathlib
import re
import shlex
import subprocess
from typing import Any

import pytest
import yaml

import pyarmonik
from pyarmonik.operator import model

from . import chart

ROOT = pathlib.Path(__file__).parents[2]
SCRIPT = ROOT / "docker" / "images.sh"
REGISTRY = "registry.example.com/you"
VERSION = pyarmonik.__version__
DOCUMENTED = [ROOT / "README.md", chart.CHART / "README.md"]
EXAMPLES = ROOT / "manifests" / "examples"


def run_script(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", *arguments], capture_output=True, text=True, timeout=30, check=False
    )


def dry_run(*arguments: str) -> tuple[list[list[str]], tuple[str, str]]:
    """The docker commands the script would run, and the two names it reports."""
    result = run_script(*arguments)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("images: ")]
    image, worker = line.split()[1:]
    return [shlex.split(command) for command in result.stdout.splitlines()], (image, worker)


def documented_path(doc: pathlib.Path) -> str:
    """The doc's bash block that builds the images, with ``$REGISTRY`` given."""
    blocks = re.findall(r"```bash\n(.*?)```", doc.read_text(), flags=re.DOTALL)
    (block,) = [block for block in blocks if "docker/images.sh --push" in block]
    return block.replace('"$REGISTRY', f'"{REGISTRY}').replace("$REGISTRY", REGISTRY)


def commands(block: str, tool: str) -> list[list[str]]:
    """The block's ``tool`` command lines, continuations joined, heredocs and comments left out."""
    joined = re.sub(r"\\\n\s*", " ", block)
    found = []
    for line in joined.splitlines():
        if line.startswith(f"{tool} "):
            found.append(shlex.split(line, comments=True))
    return found


def set_values(command: list[str]) -> list[str]:
    """The ``--set`` arguments of a helm command, ready for ``helm template``."""
    found = []
    for flag, value in itertools.pairwise(command):
        if flag in ("--set", "--set-string"):
            found += [flag, value]
    return found


def heredoc_resources(block: str) -> list[dict[str, Any]]:
    return [yaml.safe_load(text) for text in re.findall(r"<<YAML\n(.*?)\nYAML", block, flags=re.DOTALL)]


def rendered(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_the_script_builds_and_pushes_both_images_for_a_registry() -> None:
    docker, (image, worker) = dry_run("--push", f"{REGISTRY}/")
    assert (image, worker) == (f"{REGISTRY}/pyarmonik:{VERSION}", f"{REGISTRY}/pyarmonik-hello-world-worker:{VERSION}")
    builds, pushes = docker[:2], docker[2:]
    assert builds[0][:2] == ["docker", "build"] and builds[0][-1] == str(ROOT)
    assert f"VERSION={VERSION}" in builds[0] and builds[0][builds[0].index("--tag") + 1] == image
    assert builds[1][builds[1].index("--file") + 1] == str(ROOT / "docker" / "worker.Dockerfile")
    assert builds[1][builds[1].index("--tag") + 1] == worker
    assert builds[1][-1] == str(ROOT / "examples" / "hello_world")
    assert pushes == [["docker", "push", image], ["docker", "push", worker]]


def test_the_script_tags_the_version_the_chart_deploys_unless_told_otherwise() -> None:
    chart_file = yaml.safe_load((chart.CHART / "Chart.yaml").read_text())
    assert chart_file["appVersion"] == VERSION
    docker, names = dry_run("--tag", "e2e")
    assert names == ("pyarmonik:e2e", "pyarmonik-hello-world-worker:e2e")
    assert len(docker) == 2  # no push without --push


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--push",), "--push needs a REGISTRY"),
        (("--tag",), "--tag needs a value"),
        (("--colour",), "unknown option --colour"),
        (("r1", "r2"), "one registry only"),
    ],
    ids=["push_without_registry", "tag_without_value", "unknown_option", "two_registries"],
)
def test_a_wrong_call_of_the_script_is_one_line_and_runs_nothing(arguments: tuple[str, ...], message: str) -> None:
    result = run_script(*arguments)
    assert result.returncode == 2
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1 and message in result.stderr


def test_without_a_registry_the_names_are_the_examples_and_the_operators_defaults() -> None:
    _, (image, worker) = dry_run()
    for example in ("partition-cpu.yaml", "partition-gpu.yaml"):
        assert yaml.safe_load((EXAMPLES / example).read_text())["spec"]["worker"]["image"] == worker
    cluster = model.parse_cluster(yaml.safe_load((EXAMPLES / "cluster.yaml").read_text()))
    assert cluster.spec.image.reference == image


@pytest.mark.parametrize("doc", DOCUMENTED, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_documented_path_runs_the_images_the_script_pushed(helm: str, doc: pathlib.Path) -> None:
    block = documented_path(doc)
    assert f'docker/images.sh --push "{REGISTRY}"' in block
    _, (image, worker) = dry_run("--push", REGISTRY)
    values = [value for command in commands(block, "helm") if command[1] in ("install", "upgrade")
              for value in set_values(command)]  # fmt: skip
    objects = chart.render(helm, *values)
    (operator,) = rendered(objects, "Deployment")
    assert operator["spec"]["template"]["spec"]["containers"][0]["image"] == image
    (settings,) = rendered(objects, "ConfigMap")
    defaults = model.ImageDefaults(
        settings["data"]["PYARMONIK_IMAGE_REPOSITORY"], settings["data"]["PYARMONIK_IMAGE_TAG"]
    )
    # The grids: applied by kubectl (their image the operator's default), or rendered by the chart.
    clusters = [yaml.safe_load((ROOT / command[command.index("-f") + 1]).read_text())
                for command in commands(block, "kubectl") if command[1] == "apply" and "-f" in command
                and command[command.index("-f") + 1] != "-"]  # fmt: skip
    clusters += rendered(objects, "ArmoniKCluster")
    assert clusters, "the path makes no ArmoniKCluster"
    for body in clusters:
        body["metadata"].setdefault("namespace", "pyarmonik")
        assert model.parse_cluster(body, image=defaults).spec.image.reference == image
    partitions = [r for r in heredoc_resources(block) if r["kind"] == "ArmoniKPartition"]
    partitions += rendered(objects, "ArmoniKPartition")
    assert [p["metadata"]["name"] for p in partitions] == ["default"]  # the example client's partition
    assert [p["spec"]["worker"]["image"] for p in partitions] == [worker]
