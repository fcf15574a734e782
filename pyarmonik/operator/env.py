"""Pod environments rendered from the settings models.

Settings reach PyArmoniK processes only as environment variables, and the
names, types and bounds of those variables are the settings models'
(:mod:`pyarmonik.settings`). Rendering through the model means a bad value
(a partition id with a space, a port of 70000) is refused here, by the
operator, with the setting's name, instead of crash-looping a pod; and a
renamed setting cannot leave a stale variable in a manifest.

Validation reads only the values given: the operator's own environment
(which may well hold ``PYARMONIK_*`` variables) never leaks into a pod's.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import pydantic
from pydantic_settings import BaseSettings

from pyarmonik import settings


class InvalidSetting(ValueError):
    """A value the settings model refuses; the message names the setting by
    its field and environment variable."""


@dataclasses.dataclass(frozen=True)
class SecretRef:
    """A setting whose value the pod reads from a Secret (``secretKeyRef``);
    the operator never sees it, so it is not validated."""

    name: str
    key: str


def env_name(model: type[BaseSettings], name: str) -> str:
    """The variable the operator sets for ``name``. Aliased fields list
    PyArmoniK's name first and ArmoniK's own last (``ComputePlane__*``); the
    operator renders ArmoniK's, which ArmoniK workers read too."""
    return settings.env_names(model, name)[-1]


def settings_env(model: type[BaseSettings], **values: Any) -> list[dict[str, Any]]:
    """``[{"name": ..., "value": ...}]`` for the settings ``values`` of
    ``model``, in the order given; a :class:`SecretRef` value becomes a
    ``valueFrom.secretKeyRef``. ``None`` renders nothing (the setting keeps
    its default), but ``off`` for a setting that takes it (``PortOrOff``).
    Raises :class:`InvalidSetting` for an unknown setting or a value the
    model refuses."""
    unknown = sorted(set(values) - set(model.model_fields))
    if unknown:
        raise InvalidSetting(f"{model.__name__} has no setting {', '.join(unknown)}")
    values = {name: value for name, value in values.items() if value is not None or _turned_off(model, name)}
    plain = {name: value for name, value in values.items() if not isinstance(value, SecretRef)}
    try:
        validated = _isolated(model)(**plain).model_dump(mode="json", include=set(plain))
    except pydantic.ValidationError as exc:
        raise InvalidSetting(_describe(model, exc)) from exc
    env = []
    for name, value in values.items():
        if isinstance(value, SecretRef):
            ref = {"secretKeyRef": {"name": value.name, "key": value.key}}
            env.append({"name": env_name(model, name), "valueFrom": ref})
        elif validated[name] is not None:
            env.append({"name": env_name(model, name), "value": _text(validated[name])})
        else:  # a setting on by default that None turns off (an HTTP port)
            env.append({"name": env_name(model, name), "value": "off"})
    return env


def _turned_off(model: type[BaseSettings], name: str) -> bool:
    info = model.model_fields.get(name)
    return info is not None and settings.accepts_off(info)


def merged(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``ours`` with the user's variables ``theirs`` replacing same-named ones
    in place and the others appended: the user wins, and no name appears twice
    (the API server warns on duplicates and the last one would win anyway)."""
    by_name = {entry["name"]: entry for entry in theirs}
    kept = [by_name.pop(entry["name"], entry) for entry in ours]
    return kept + [entry for entry in theirs if entry["name"] in by_name]


@functools.cache
def _isolated(model: type[BaseSettings]) -> type[BaseSettings]:
    """``model`` reading its init arguments only, not the environment or a
    dotenv file of the operator's process."""

    def sources(cls: type[BaseSettings], settings_cls: type[BaseSettings], init_settings: Any, **_: Any) -> tuple:
        return (init_settings,)

    namespace = {"settings_customise_sources": classmethod(sources), "__module__": model.__module__}
    return type(model.__name__, (model,), namespace)


def _describe(model: type[BaseSettings], exc: pydantic.ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        where = f"{name} ({env_name(model, name)})" if name in model.model_fields else name
        problems.append(f"{where}: {error['msg']} (got {error.get('input')!r})")
    return f"invalid {model.__name__} setting " + "; ".join(problems)


def _text(value: Any) -> str:
    """Strings as they are, everything else as JSON (``true``, ``15.0``,
    ``["default"]``), which pydantic-settings parses back to the same value."""
    return value if isinstance(value, str) else json.dumps(value)
