"""The ``pyarmonik`` command's answer to a mistyped command line."""

from __future__ import annotations

import pytest

from pyarmonik import cli


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        cli.main(list(argv))
    assert stopped.value.code == 2
    return " ".join(capsys.readouterr().err.split())


def test_a_mistyped_flag_gets_the_commands_usage_and_the_flag_it_meant(capsys: pytest.CaptureFixture[str]) -> None:
    error = _refused(capsys, "local", "--prot", "5002")
    assert error.startswith("usage: pyarmonik local ")
    assert "pyarmonik local: error: unrecognized arguments: --prot 5002 (did you mean --port?)" in error


def test_a_mistyped_flag_with_its_value_attached_is_matched_too(capsys: pytest.CaptureFixture[str]) -> None:
    error = _refused(capsys, "agent", "--partiton=gpu")
    assert "pyarmonik agent: error: unrecognized arguments: --partiton=gpu (did you mean --partition?)" in error


def test_an_unknown_flag_like_no_other_is_refused_without_a_guess(capsys: pytest.CaptureFixture[str]) -> None:
    error = _refused(capsys, "control-plane", "--zzzzzz")
    assert error.endswith("pyarmonik control-plane: error: unrecognized arguments: --zzzzzz")
