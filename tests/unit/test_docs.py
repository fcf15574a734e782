"""README.md and docs/ cannot rot.

Every command line of their fenced shell blocks is checked against the
program it runs, without running what would take long: ``pyarmonik`` lines
are parsed by the CLI and their settings validated by the models; ``python
-m bench``, the fault campaign, the example clients... are parsed by their
own argparse parsers (stopped right after parsing); ``pip install`` extras
exist in pyproject.toml; ``pytest`` paths and markers exist; every path of
the repository a command names exists. A program the test does not know
fails it: teach it here. Python blocks compile and their imports resolve,
YAML blocks load, links lead to files, every ``PYARMONIK_*`` variable named
is one the code reads. The README stays a front door: short, with the two
quick-start commands ``.ci/run`` runs.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import io
import pathlib
import re
import runpy
import shlex
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest
import yaml

from pyarmonik import cli, settings, settings_flags

ROOT = pathlib.Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README = (ROOT / "README.md").read_text()
DEMO_COMMAND = "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && pyarmonik local --demo"
TEST_COMMAND = "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && python -m pytest"
README_MAX_LINES = 250
#: Top-level folders and files of the repository: a token starting with one is a path that must exist.
REPO_PATH = re.compile(
    r"^(\./)?(pyarmonik|tests|bench|examples|docs|charts|manifests|docker|\.ci|\.github)(/[^\s<>*{}$]*)?$"
    r"|^(README\.md|LICENSE|Dockerfile|pyproject\.toml)$"
)
_FENCE = re.compile(r"^```(\w*)\s*$")


# -- reading the pages -------------------------------------------------------------------------


def blocks(kinds: set[str]) -> Iterator[tuple[str, int, str]]:
    """(page, line of the block's first line, text) of every fenced block of these kinds."""
    for page in PAGES:
        lines = page.read_text().splitlines()
        kind, start, body = None, 0, []
        for number, line in enumerate(lines, 1):
            fence = _FENCE.match(line.strip())
            if fence and kind is None:
                kind, start, body = fence.group(1) or "text", number + 1, []
            elif line.strip() == "```" and kind is not None:
                if kind in kinds:  # a block inside a list item is indented with it
                    yield page.relative_to(ROOT).as_posix(), start, textwrap.dedent("\n".join(body))
                kind = None
            elif kind is not None:
                body.append(line)


def command_lines() -> Iterator[tuple[str, list[str]]]:
    """("page:line", words) of each simple command of the shell blocks."""
    for page, start, text in blocks({"bash", "sh", "shell", "console"}):
        number = start
        for line, count in _logical_lines(text):
            for command in _commands(line):
                yield f"{page}:{number}", command
            number += count


_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")


def _logical_lines(text: str) -> Iterator[tuple[str, int]]:
    """Each line with its continuations joined, and how many physical lines it took.

    A here-document's body is data, not commands: it is counted with the line that opens it.
    """
    pending, count, heredoc, opening = "", 0, None, ""
    for physical in text.splitlines():
        count += 1
        if heredoc is not None:
            if physical.strip() == heredoc:
                heredoc = None
                yield opening, count
                pending, count = "", 0
            continue
        opens = _HEREDOC.search(physical)
        if opens:
            heredoc, opening = opens.group(1), pending + physical[: opens.start()]
            continue
        if physical.rstrip().endswith("\\"):
            pending += physical.rstrip()[:-1] + " "
            continue
        yield pending + physical, count
        pending, count = "", 0


def _commands(line: str) -> Iterator[list[str]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words: list[str] = []
    for token in lexer:
        if token in {"&&", "||", "|", ";", "&"}:
            if words:
                yield words
            words = []
        else:
            words.append(token)
    if words:
        yield words


# -- checking one command ----------------------------------------------------------------------


class _Parsed(Exception):
    """Raised by the patched argparse once the outermost parse is done."""

    def __init__(self, unknown: list[str]) -> None:
        super().__init__(unknown)
        self.unknown = unknown


@contextlib.contextmanager
def _parse_only() -> Iterator[None]:
    """argparse that stops the program right after its command line is parsed."""
    original = argparse.ArgumentParser.parse_known_args
    depth = 0

    def parse_known_args(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        nonlocal depth
        depth += 1
        try:
            namespace, unknown = original(self, *args, **kwargs)
        finally:
            depth -= 1
        if depth == 0:
            raise _Parsed(unknown)
        return namespace, unknown

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_known_args", parse_known_args)
        yield


def _parses(run: Callable[[], object], argv: list[str]) -> None:
    """Runs a program's start with ``argv`` until its parser has read it."""
    output = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        patch.setattr(sys, "argv", argv)
        try:
            with _parse_only():
                run()
        except _Parsed as parsed:
            assert not parsed.unknown, f"unrecognized arguments: {parsed.unknown}"
            return
        except SystemExit as stopped:
            assert stopped.code in (0, None), output.getvalue()[-2000:]  # --help, --version
            return
    pytest.fail(f"{argv[0]} ran without parsing a command line: teach tests/unit/test_docs.py how to check it")


def check_pyarmonik(args: list[str], env: dict[str, str]) -> None:
    output = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        for name, value in env.items():
            patch.setenv(name, value)
        try:
            parsed = cli._parse(args)
        except SystemExit as stopped:
            assert stopped.code == 0, output.getvalue()[-2000:]  # --help, --version
            return
        try:
            settings_flags.settings_from(parsed, settings.COMMANDS[parsed.command])
        except pydantic.ValidationError as exc:
            pytest.fail(settings_flags.first_error(exc, settings.COMMANDS[parsed.command]))


def _declared_markers() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text()
    return set(re.findall(r'^    "([a-z_]+): ', text, flags=re.MULTILINE))


def _our_pytest_options() -> set[str]:
    text = (ROOT / "tests" / "conftest.py").read_text()
    return set(re.findall(r'addoption\(\s*"(--[\w-]+)"', text))


#: pytest's own options the docs use.
_PYTEST_OPTIONS = {"-m", "-k", "-x", "-q", "-v", "-s", "--co", "--lf", "-p", "--durations"}


def check_pytest(args: list[str]) -> None:
    options = _PYTEST_OPTIONS | _our_pytest_options()
    words = iter(args)
    for word in words:
        if word == "-m":
            expression = next(words)
            unknown = set(re.findall(r"\w+", expression)) - {"and", "or", "not"} - _declared_markers()
            assert not unknown, f"markers not declared in pyproject.toml: {unknown}"
        elif word.startswith("-"):
            assert word.split("=")[0] in options, f"pytest option {word} unknown to this test"
            if word in {"-k", "-p", "--fuzz-report", "--durations"}:
                next(words)
        else:
            assert (ROOT / word.split("::")[0]).exists(), f"no {word}"


def check_pip(args: list[str]) -> None:
    assert args[:1] == ["install"], args
    extras = _extras()
    for word in args[1:]:
        if word.startswith("."):
            wanted = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", word)
            assert wanted, f"pip install {word}: not this checkout"
            for extra in filter(None, (wanted.group(1) or "").split(",")):
                assert extra in extras, f"no extra {extra!r} in pyproject.toml"


def _extras() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([\w-]+) = \[", section, flags=re.MULTILINE))


#: ``python -m MODULE``: how each is checked.
def _run_module(name: str) -> Callable[[list[str]], None]:
    """``python -m name ARGS``, parsed. A module other tests imported already
    is run afresh, as ``python -m`` would (runpy warns about the old copy)."""
    main = f"{name}.__main__" if (ROOT / name / "__main__.py").exists() else name

    def run() -> None:
        with pytest.MonkeyPatch.context() as patch:
            patch.delitem(sys.modules, main, raising=False)
            runpy.run_module(name, run_name="__main__")

    return lambda args: _parses(run, [name, *args])


MODULES: dict[str, Callable[[list[str]], None]] = {
    "pytest": check_pytest,
    "pip": check_pip,
    "venv": lambda args: None,
    "bench": _run_module("bench"),
    "tests.faults.campaign": _run_module("tests.faults.campaign"),
    "tests.k8s.testbed": _run_module("tests.k8s.testbed"),
    # These read sys.argv themselves and would do their work: they exist, their files too.
    "pyarmonik.settings_flags": lambda args: None,
    "pyarmonik.operator.crds": lambda args: None,
}
#: Programs whose command lines are checked for the repository's paths they name only.
PATHS_ONLY = {"helm", "kubectl", "docker", "kind", "curl", "cd", "git", "export", "bash", "source", ".", "ruff",
              "lint-imports", "mypy", "kill"}  # fmt: skip


def check_python(args: list[str], env: dict[str, str]) -> None:
    if args[:1] == ["-m"]:
        module, rest = args[1], args[2:]
        if module == "pyarmonik":
            check_pyarmonik(rest, env)
            return
        assert module in MODULES, f"python -m {module}: teach tests/unit/test_docs.py how to check it"
        assert importlib.util.find_spec(module) is not None, f"no module {module}"
        MODULES[module](rest)
    elif args[:1] == ["-c"]:
        return
    else:
        script = ROOT / args[0]
        assert script.is_file(), f"no {args[0]}"
        if "argparse" in script.read_text():
            _parses(lambda: runpy.run_path(str(script), run_name="__main__"), [str(script), *args[1:]])


def check_command(words: list[str]) -> None:
    env: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if words[:1] == ["env"]:
        words = words[1:]
    if not words:
        return
    for word in words:
        for candidate in (word, word.partition("=")[2]):
            if REPO_PATH.match(candidate):
                assert (ROOT / candidate.rstrip("/")).exists(), f"no {candidate} in the repository"
    check_program(words[0], words[1:], env)


def check_program(program: str, args: list[str], env: dict[str, str]) -> None:
    if program == "pyarmonik":
        check_pyarmonik(args, env)
    elif program in {"python", "python3"}:
        check_python(args, env)
    elif program == "pip":
        check_pip(args)
    elif REPO_PATH.match(program):
        pass  # a script of the repository: its path was checked above
    else:
        assert program in PATHS_ONLY, f"{program}: teach tests/unit/test_docs.py how to check it"


COMMANDS = list(command_lines())


@pytest.mark.parametrize(("where", "words"), COMMANDS, ids=[f"{w}:{words[0]}" for w, words in COMMANDS])
def test_each_documented_command_parses(where: str, words: list[str]) -> None:
    check_command(list(words))


def test_the_pages_have_commands_to_check() -> None:
    pages = {where.rsplit(":", 1)[0] for where, _ in COMMANDS}
    assert {"README.md", "docs/testing.md", "docs/local.md", "docs/benchmark.md"} <= pages
    assert len(COMMANDS) > 40


# -- the other blocks, links and names ---------------------------------------------------------

PYTHON_BLOCKS = list(blocks({"python"}))


@pytest.mark.parametrize(("page", "line", "text"), PYTHON_BLOCKS, ids=[f"{p}:{n}" for p, n, _ in PYTHON_BLOCKS])
def test_each_python_block_compiles_and_its_imports_resolve(page: str, line: int, text: str) -> None:
    tree = ast.parse(text, filename=f"{page}:{line}")
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    exec(compile(ast.Module(body=imports, type_ignores=[]), f"{page}:{line}", "exec"), {})


def test_the_readmes_worker_is_the_hello_world_example() -> None:
    """The README's worker block is the example's code (the grid runs that one in tests)."""
    [worker] = [text for page, _, text in PYTHON_BLOCKS if page == "README.md" and "armonik_worker" in text]
    example = ast.parse((ROOT / "examples" / "hello_world" / "worker.py").read_text())
    example.body = example.body[1:]  # its docstring
    assert ast.dump(ast.parse(worker)) == ast.dump(example)


YAML_BLOCKS = list(blocks({"yaml", "yml"}))


@pytest.mark.parametrize(("page", "line", "text"), YAML_BLOCKS, ids=[f"{p}:{n}" for p, n, _ in YAML_BLOCKS])
def test_each_yaml_block_loads(page: str, line: int, text: str) -> None:
    assert list(yaml.safe_load_all(text)), f"{page}:{line} is empty"


def test_the_security_pages_auth_config_example_is_a_valid_config() -> None:
    from pyarmonik.control_plane import auth_config

    [example] = [text for page, _, text in YAML_BLOCKS if page == "docs/security.md" and "roles:" in text]
    auth_config.AuthConfig.parse(yaml.safe_load(example))


def _links() -> Iterator[tuple[pathlib.Path, str]]:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if not re.match(r"^(https?:|mailto:|#)", target):
                yield page, target.split("#")[0]


def test_every_link_leads_to_a_file() -> None:
    broken = [f"{page.relative_to(ROOT)}: {target}" for page, target in _links() if not (page.parent / target).exists()]
    assert not broken


def test_every_path_named_in_backticks_exists() -> None:
    missing = [
        f"{page.relative_to(ROOT)}: {name}"
        for page in PAGES
        for name in re.findall(r"`([^`\s]+)`", page.read_text())
        if REPO_PATH.match(name) and not (ROOT / name.rstrip("/")).exists()
    ]
    assert not missing


def _variables_the_code_reads() -> set[str]:
    names = {
        name
        for model in settings.COMMANDS.values()
        for _, environment, _, _ in settings_flags.describe(model)
        for name in environment.split(" or ")
    }
    for folder in ("pyarmonik", "tests", "bench"):
        for source in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r"PYARMONIK_[A-Z0-9_]+", source.read_text()))
    return names


def test_every_pyarmonik_variable_named_is_one_the_code_reads() -> None:
    known = _variables_the_code_reads()
    unknown = {
        (page.relative_to(ROOT).as_posix(), name)
        for page in PAGES
        for name in re.findall(r"PYARMONIK_[A-Z0-9_]+", page.read_text())
        if name not in known
    }
    assert not unknown


# -- the README as a front door ----------------------------------------------------------------


def test_the_readme_starts_with_the_two_quick_start_commands() -> None:
    quick_start = README.split("\n## ", 2)[1]
    assert quick_start.startswith("Quick start")
    assert f"```bash\n{DEMO_COMMAND}\n```" in quick_start
    assert f"```bash\n{TEST_COMMAND}\n```" in quick_start


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_readme_stays_a_front_door() -> None:
    lines = len(README.splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move the detail to a page of docs/"


def test_the_code_never_points_to_a_readme_section_that_moved() -> None:
    """Sections of the old README now live in docs/: code and charts point there."""
    moved = re.compile(r'README[:,]? "?(Security|Settings|Metrics|Limits|Hostile input|Users, roles|Run the tests)')
    found = [
        f"{path.relative_to(ROOT)}"
        for folder in ("pyarmonik", "tests", "charts", "bench")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and path.suffix in {".py", ".yaml", ".md", ".txt"} and moved.search(path.read_text())
    ]
    assert not found


def test_commands_are_split_as_a_shell_splits_them() -> None:
    assert list(_commands("a --x 'y z' && b & # c")) == [["a", "--x", "y z"], ["b"]]
    assert list(_logical_lines("a \\\n  b\nc")) == [("a    b", 2), ("c", 1)]
