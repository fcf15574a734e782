"""Fair-share settings and configurations: what they give, refused in one
line naming the flag or field when wrong, and how a partition shows them."""

from __future__ import annotations

import re

import pydantic
import pytest

from pyarmonik import settings, settings_flags
from pyarmonik.core import fairshare


def test_no_fair_share_setting_given_leaves_the_partitions_as_they_are() -> None:
    assert settings.ControlPlaneSettings().fair_share() is None
    assert settings.LocalSettings(fair_share_mode="fifo").fair_share() == fairshare.FairShare(mode="fifo")


def test_weights_and_caps_are_read_from_key_value_flags_and_star_means_every_other_key() -> None:
    config = settings.ControlPlaneSettings(
        fair_share_key="user",
        fair_share_weight=["alice=2", "*=0.5", "team=a=3"],
        fair_share_cap=["*=8", "bob=2"],
    ).fair_share()

    assert config == fairshare.FairShare(
        key="user", default_weight=0.5, weights={"alice": 2.0, "team=a": 3.0}, default_cap=8, caps={"bob": 2}
    )
    assert (config.weight_of("alice"), config.weight_of("carol"), config.cap_of("bob"), config.cap_of("x")) == (
        2.0, 0.5, 2, 8,
    )  # fmt: skip


def test_the_environment_gives_lists_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYARMONIK_FAIR_SHARE_WEIGHT", '["alice=4"]')
    monkeypatch.setenv("PYARMONIK_FAIR_SHARE_CAP", '["*=3"]')

    assert settings.ControlPlaneSettings().fair_share() == fairshare.FairShare(weights={"alice": 4.0}, default_cap=3)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"fair_share_weight": ["alice=0"]}, "--fair-share-weight alice must be from 0.01 to 100, got '0'"),
        ({"fair_share_weight": ["alice=much"]}, "--fair-share-weight alice must be a number, got 'much'"),
        ({"fair_share_weight": ["*=inf"]}, "--fair-share-weight * must be from 0.01 to 100"),
        ({"fair_share_weight": ["alice"]}, "--fair-share-weight: expected KEY=VALUE"),
        ({"fair_share_cap": ["bob=0"]}, "--fair-share-cap bob must be a whole number from 1 to 1000000, got '0'"),
        ({"fair_share_cap": ["bob=1.5"]}, "--fair-share-cap bob must be a whole number"),
        ({"fair_share_cap": ["=3"]}, "--fair-share-cap: expected KEY=VALUE"),
    ],
)
def test_a_bad_weight_or_cap_is_refused_naming_its_flag(values: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        settings.ControlPlaneSettings(**values)  # type: ignore[arg-type]

    assert settings_flags.first_error(caught.value, settings.ControlPlaneSettings).startswith(message)


def test_a_mode_or_key_out_of_its_choices_is_refused_naming_the_flag() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        settings.ControlPlaneSettings(fair_share_key="team")  # type: ignore[arg-type]

    assert settings_flags.first_error(caught.value, settings.ControlPlaneSettings).startswith(
        "--fair-share-key (env PYARMONIK_FAIR_SHARE_KEY)"
    )
    with pytest.raises(ValueError, match=re.escape("spec.fairShare.mode must be one of fair, fifo, got 'random'")):
        fairshare.fair_share(mode="random", where=("spec.fairShare.mode", "key", "weights", "caps"))


def test_a_session_weight_option_is_a_weight_or_refused() -> None:
    assert fairshare.session_weight({fairshare.WEIGHT_OPTION: "4"}) == 4.0
    assert fairshare.session_weight({"other": "x"}) is None
    with pytest.raises(ValueError, match=re.escape("task option pyarmonik.io/weight must be from 0.01 to 100")):
        fairshare.session_weight({fairshare.WEIGHT_OPTION: "101"})


def test_a_partition_shows_its_fair_share_in_its_pod_configuration() -> None:
    config = fairshare.fair_share(key="user", weights={"bob": 2, "*": 0.5}, caps={"*": 4})

    assert config.pod_configuration() == {
        "pyarmonik.io/fair-share-mode": "fair",
        "pyarmonik.io/fair-share-key": "user",
        "pyarmonik.io/fair-share-default-weight": "0.5",
        "pyarmonik.io/fair-share-weights": '{"bob":2.0}',
        "pyarmonik.io/fair-share-default-cap": "4",
    }
    assert config.describe() == "fair by user, weight 0.5, bob=2, cap 4"
    assert fairshare.FairShare(mode="fifo").describe().startswith("fifo")
