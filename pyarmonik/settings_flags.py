"""Command-line flags generated from the settings models.

Every setting is then reachable the same two ways, by flag and by
environment variable, without a second list to keep in sync; a flag given
wins over the environment. The settings table of ``docs/settings.md`` is
generated here too (``python -m pyarmonik.settings_flags --update
docs/settings.md``) and checked against it by a test.

pydantic-settings has a CLI of its own; it is not used because its help
prints default factories as ``<lambda>``, names aliased fields after their
aliases (``--ComputePlane__AgentChannel__Address``) and shows no environment
variable, which is half of what a user of a settings table needs.
"""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import pydantic
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from pyarmonik import settings

S = TypeVar("S", bound=BaseSettings)

#: Help and docs headings of the setting groups, in the order they are shown.
GROUPS: dict[type[BaseSettings], str] = {
    settings.ServerSettings: "API",
    settings.MetricsSettings: "API",
    settings.WebSettings: "gRPC-Web and GUI",
    settings.FairShareSettings: "fair share",
    settings.SecuritySettings: "security",
    settings.LimitSettings: "limits",
    settings.StorageSettings: "storage",
    settings.LeaseSettings: "tasks",
    settings.AgentRunSettings: "tasks",
    settings.LocalSettings: "local grid",
    settings.AgentSettings: "agent",
    settings.AgentProbeSettings: "agent",
    settings.OperatorSettings: "operator",
    settings.LoggingSettings: "logging",
}


_METAVARS: dict[Any, str] = {int: "N", float: "SECONDS", Path: "PATH"}


#: Flag and environment names are defined beside the models (the operator
#: renders pod environments with them too); re-exported for the CLI's callers.
flag_of = settings.flag_of
env_of = settings.env_of


def shown_default(info: FieldInfo) -> str:
    """The default as a user reads it; a default derived from another setting
    says how (``json_schema_extra={"shown": ...}`` on the field)."""
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "shown" in extra:
        return str(extra["shown"])
    default = info.get_default(call_default_factory=True)
    if default is None:
        return "none"
    if default == "":
        return "empty"
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, list):
        return ", ".join(str(item) for item in default) or "none"
    return str(default)


def group_of(model: type[BaseSettings], name: str) -> str:
    """The heading of the group that declares ``name``."""
    for klass in model.__mro__:
        if name in getattr(klass, "__annotations__", {}) and klass in GROUPS:
            return GROUPS[klass]
    return "other"


def _base_type(annotation: Any) -> Any:
    """``str | None`` -> ``str``; ``Annotated[int, ...]`` -> ``int``; ``list[str]`` stays a list."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _ordered(model: type[BaseSettings]) -> list[tuple[str, FieldInfo]]:
    order = [*dict.fromkeys(GROUPS.values()), "other"]
    return sorted(model.model_fields.items(), key=lambda item: order.index(group_of(model, item[0])))


def add_flags(parser: argparse.ArgumentParser, model: type[BaseSettings]) -> None:
    groups: dict[str, argparse._ArgumentGroup] = {}
    for name, info in _ordered(model):
        heading = group_of(model, name)
        group = groups.get(heading) or groups.setdefault(heading, parser.add_argument_group(heading))
        kind = _base_type(info.annotation)
        text = f"{info.description or name} (default: {shown_default(info)}; env {env_of(model, name, info)})"
        text = text.replace("%", "%%")
        if kind is bool:
            group.add_argument(flag_of(name), dest=name, action=argparse.BooleanOptionalAction, help=text)
        elif typing.get_origin(kind) is list:
            group.add_argument(flag_of(name), dest=name, action="append", metavar="VALUE", help=text + "; repeatable")
        else:
            choices = typing.get_args(kind) if typing.get_origin(kind) is typing.Literal else None
            metavar = "{" + ",".join(choices) + "}" if choices else _METAVARS.get(kind, "VALUE")
            if settings.accepts_off(info):  # a number or "off": pydantic tells them apart
                kind, metavar = str, f"{metavar}|off"
            group.add_argument(
                flag_of(name), dest=name, metavar=metavar, type=kind if kind in _METAVARS else str, help=text
            )
        parser.set_defaults(**{name: None})


def settings_from(args: argparse.Namespace, model: type[S]) -> S:
    given = {name: getattr(args, name) for name in model.model_fields if getattr(args, name, None) is not None}
    return model(**given)


def first_error(exc: pydantic.ValidationError, model: type[BaseSettings] | None) -> str:
    """One line naming the setting by its flag and environment variable."""
    error = exc.errors()[0]
    if not error["loc"]:  # a rule across settings: its message names them
        return str(error["msg"]).removeprefix("Value error, ")
    name = str(error["loc"][0])
    info = model.model_fields.get(name) if model is not None else None
    where = f"{flag_of(name)} (env {env_of(model, name, info)})" if model is not None and info is not None else name
    return f"{where}: {error['msg']} (got {error.get('input')!r})"


def describe(model: type[BaseSettings]) -> list[tuple[str, str, str, str]]:
    """(flag, environment variable, default, meaning) of every setting, for docs."""
    return [
        (flag_of(name), env_of(model, name, info), shown_default(info), info.description or "")
        for name, info in _ordered(model)
    ]


def markdown_table() -> str:
    """The docs' table: every setting once, with the commands that take it."""
    rows: dict[str, list[str]] = {}
    for command, model in settings.COMMANDS.items():
        for flag, env, default, meaning in describe(model):
            row = rows.setdefault(flag, [flag, env, default, "", meaning])
            row[3] = f"{row[3]}, {command}" if row[3] else command
    lines = ["| flag | environment | default | commands | meaning |", "|---|---|---|---|---|"]
    for flag, env, default, commands, meaning in rows.values():
        envs = " or ".join(f"`{name}`" for name in env.split(" or "))
        lines.append(f"| `{flag}` | {envs} | `{default}` | {commands} | {meaning} |")
    return "\n".join(lines)


def update_table(page: Path) -> None:
    """Replaces the settings table in ``page`` by the generated one."""
    text = page.read_text()
    start = text.index(markdown_table().splitlines()[0])
    end = text.find("\n\n", start)
    page.write_text(text[:start] + markdown_table() + (text[end:] if end != -1 else "\n"))


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--update"]:
        update_table(Path(sys.argv[2]))
    else:
        print(markdown_table())
