"""The lease and its renewal period: an agent that would lose its tasks is
refused at start, in one line naming both settings."""

from __future__ import annotations

import pydantic
import pytest

from pyarmonik import settings, settings_flags

REFUSED = "--heartbeat-seconds (10) must be at most half of --lease-seconds (3): "


@pytest.mark.parametrize("model", [settings.AgentSettings, settings.LocalSettings])
def test_a_heartbeat_longer_than_half_the_lease_is_refused_naming_both_settings(model: type) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        model(lease_seconds=3, heartbeat_seconds=10)

    line = settings_flags.first_error(caught.value, model)
    assert line.startswith(REFUSED) and "\n" not in line


@pytest.mark.parametrize(("lease", "heartbeat"), [(3, 1.5), (3, None), (0.5, None), (15, 0.1)])
def test_a_heartbeat_of_at_most_half_the_lease_is_accepted(lease: float, heartbeat: float | None) -> None:
    agent = settings.AgentSettings(lease_seconds=lease, heartbeat_seconds=heartbeat)
    assert agent.heartbeat * 2 <= agent.lease_seconds
