"""The README documents every setting, by flag and environment variable."""

from __future__ import annotations

import pathlib

import pytest
from pydantic_settings import BaseSettings

from pyarmonik import settings_flags
from pyarmonik.settings import AgentSettings, ControlPlaneSettings

README = (pathlib.Path(__file__).parents[2] / "README.md").read_text()


@pytest.mark.parametrize("model", [ControlPlaneSettings, AgentSettings])
def test_every_setting_is_documented_with_its_flag_and_environment_variable(model: type[BaseSettings]) -> None:
    for flag, environment, _, _ in settings_flags.describe(model):
        assert f"`{flag}`" in README, flag
        for name in environment.split(" or "):
            assert f"`{name}`" in README, name
