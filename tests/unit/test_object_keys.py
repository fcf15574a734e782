"""Whose object a key names: the grid's (written for one result) or an operator's."""

from __future__ import annotations

import pytest

from pyarmonik.lifecycle import object_keys


def test_a_new_key_names_the_result_it_is_written_for() -> None:
    key = object_keys.new_key("a-result")

    assert object_keys.written_for(key) == "a-result"
    assert key != object_keys.new_key("a-result")


@pytest.mark.parametrize(
    "key",
    [
        "imports/data.bin",
        "data.bin",
        "folder/a.0123456789ab",  # a folder: an operator's
        ".0123456789ab",
        "a.0123456789AB",  # the grid writes lowercase
        "a.0123456789a",
        "a.0123456789abc",
        "a.0123456789ag",
        "no-dot",
    ],
)
def test_any_other_key_is_an_operators(key: str) -> None:
    assert object_keys.written_for(key) is None


def test_only_the_objects_written_for_their_own_result_are_owned() -> None:
    own = object_keys.new_key("r1")
    others = object_keys.new_key("r0")

    owned = object_keys.owned({"r1": own.encode(), "r2": others.encode(), "r3": b"imports/x", "r4": b""})

    assert owned == [own]
