"""Command-line flags generated from the settings models.

Every setting is then reachable the same two ways, by flag and by
environment variable, without a second list to keep in sync; a flag given
wins over the environment.
"""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_of(model: type[BaseSettings], name: str, info: FieldInfo) -> str:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return " or ".join(str(choice) for choice in alias.choices)
    return f"{model.model_config.get('env_prefix', '')}{name}".upper()


def _base_type(annotation: Any) -> Any:
    """``str | None`` -> ``str``; ``list[str]`` stays a list."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def add_flags(parser: argparse.ArgumentParser, model: type[BaseSettings]) -> None:
    for name, info in model.model_fields.items():
        kind = _base_type(info.annotation)
        default = info.get_default(call_default_factory=True)
        text = f"{info.description or name} (default {default}; env {env_of(model, name, info)})"
        if kind is bool:
            parser.add_argument(flag_of(name), dest=name, action=argparse.BooleanOptionalAction, help=text)
        elif typing.get_origin(kind) is list:
            parser.add_argument(flag_of(name), dest=name, action="append", help=text + "; repeatable")
        else:
            parser.add_argument(flag_of(name), dest=name, type=kind if kind in (int, float, Path) else str, help=text)
        parser.set_defaults(**{name: None})


def settings_from(args: argparse.Namespace, model: type[S]) -> S:
    given = {name: getattr(args, name) for name in model.model_fields if getattr(args, name, None) is not None}
    return model(**given)


def describe(model: type[BaseSettings]) -> list[tuple[str, str, str, str]]:
    """(flag, environment variable, default, meaning) of every setting, for docs."""
    return [
        (
            flag_of(name),
            env_of(model, name, info),
            str(info.get_default(call_default_factory=True)),
            info.description or "",
        )
        for name, info in model.model_fields.items()
    ]
