"""docs/settings.md documents every setting, by flag and environment variable."""

from __future__ import annotations

import pathlib

from pyarmonik import settings_flags

PAGE = (pathlib.Path(__file__).parents[2] / "docs" / "settings.md").read_text()


def test_the_settings_table_is_the_one_generated_from_the_models() -> None:
    regenerate = "regenerate it: python -m pyarmonik.settings_flags --update docs/settings.md"
    assert settings_flags.markdown_table() in PAGE, regenerate


def test_every_command_and_setting_appears_in_the_table() -> None:
    table = settings_flags.markdown_table()
    for command, model in settings_flags.settings.COMMANDS.items():
        for flag, environment, _, _ in settings_flags.describe(model):
            row = next(line for line in table.splitlines() if line.startswith(f"| `{flag}` |"))
            assert command in row.split("|")[4], (flag, command)
            for name in environment.split(" or "):
                assert f"`{name}`" in row, name
