"""Permissions, wildcards and the auth config file (ArmoniK's users, roles
and certificates)."""

from __future__ import annotations

import json
import pathlib

import pytest

from pyarmonik.control_plane import api
from pyarmonik.control_plane.auth_config import AuthConfig, known_permissions, load
from pyarmonik.core import identity
from pyarmonik.core.identity import Identity


@pytest.mark.parametrize(
    ("granted", "wanted", "allowed"),
    [
        ("*", "Sessions:CreateSession", True),
        ("Sessions:*", "Sessions:CreateSession", True),
        ("Sessions:*", "SessionsX:CreateSession", False),
        ("Sessions:CreateSession", "Sessions:CreateSession", True),
        ("Sessions:CreateSession:Self", "Sessions:CreateSession", True),
        ("Sessions:CreateSession", "Sessions:CancelSession", False),
        ("Tasks:*", "Sessions:CreateSession", False),
    ],
)
def test_a_granted_permission_covers_what_its_wildcards_say(granted: str, wanted: str, allowed: bool) -> None:
    assert identity.grants(granted, wanted) is allowed


def test_client_wildcards_do_not_reach_every_session() -> None:
    client = Identity("alice", ("client",), frozenset({"Sessions:*", "Tasks:*"}))

    assert not client.sees_every_session
    assert Identity("root", (), frozenset({"*"})).sees_every_session
    assert Identity("ops", (), frozenset({"General:*"})).sees_every_session


def test_permissions_are_listed_expanded() -> None:
    user = Identity("u", (), frozenset({"Versions:*"}))

    assert user.permissions(known_permissions()) == ["Versions:ListVersions"]


def test_permissions_are_named_as_in_armonik_core() -> None:
    names = set(api.permissions())

    assert {"HealthChecks:CheckHealth", "Authentication:GetCurrentUser", "Sessions:CreateSession"} <= names
    assert not any(name.startswith("HealthChecksService:") for name in names)
    assert api.method_permissions()["/armonik.api.grpc.v1.sessions.Sessions/CreateSession"] == "Sessions:CreateSession"


def config(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "users": [{"name": "alice", "cn": "alice", "roles": ["client"]}],
        "roles": [{"name": "client", "permissions": ["Sessions:*", "Tasks:SubmitTasks"]}],
    }
    data.update(overrides)
    return data


def test_a_user_is_identified_by_the_cn_of_its_certificate() -> None:
    user = AuthConfig.parse(config()).identify("alice", ["ab" * 20])

    assert user is not None and (user.username, user.roles) == ("alice", ("client",))
    assert user.allows("Tasks:SubmitTasks") and not user.allows("Tasks:CancelTasks")


def test_a_cn_and_fingerprint_entry_wins_over_a_cn_only_entry() -> None:
    data = config(
        users=[
            {"name": "any-alice", "cn": "alice", "roles": []},
            {"name": "this-alice", "cn": "alice", "fingerprint": "AB:CD", "roles": []},
            {"name": "by-print", "fingerprint": "ef01", "roles": []},
        ]
    )
    auth = AuthConfig.parse(data)

    assert auth.identify("alice", ["abcd"]).username == "this-alice"  # type: ignore[union-attr]
    assert auth.identify("alice", ["9999"]).username == "any-alice"  # type: ignore[union-attr]
    assert auth.identify("whoever", ["EF:01"]).username == "by-print"  # type: ignore[union-attr]
    assert auth.identify("bob", ["9999"]) is None


def test_armonik_cores_separate_certificate_list_is_read() -> None:
    data = config(certificates=[{"user": "alice", "cn": "alice-laptop"}])

    assert AuthConfig.parse(data).identify("alice-laptop", []).username == "alice"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (config(users=[{"name": "alice", "cn": "a", "roles": ["missing"]}]), "undefined roles: missing"),
        (config(roles=[{"name": "client", "permissions": ["Session:CreateSession"]}]), "unknown permission"),
        (config(roles=[{"name": "client", "permissions": ["Sessions:Fly"]}]), "unknown permission"),
        (config(users=[{"name": "alice", "cn": "a", "roles": [], "email": "x"}]), "users.0.email"),
        (config(users=[{"name": "a", "cn": "x"}, {"name": "b", "cn": "x"}]), "given to both"),
        (config(certificates=[{"user": "ghost", "cn": "g"}]), "undefined user 'ghost'"),
    ],
)
def test_a_bad_config_is_refused_naming_the_mistake(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AuthConfig.parse(data)


def test_files_are_yaml_or_json_and_errors_name_the_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "auth.yaml").write_text("users:\n  - {name: alice, cn: alice, roles: [client]}\nroles:\n"
                                        "  - {name: client, permissions: ['*']}\n")  # fmt: skip
    (tmp_path / "auth.json").write_text(json.dumps(config()))
    (tmp_path / "bad.yaml").write_text("users: [")

    assert load(tmp_path / "auth.yaml").identify("alice", []).allows("Anything:Goes")  # type: ignore[union-attr]
    assert load(tmp_path / "auth.json").identify("alice", []) is not None
    with pytest.raises(ValueError, match=r"bad\.yaml"):
        load(tmp_path / "bad.yaml")
    with pytest.raises(ValueError, match=r"missing\.yaml"):
        load(tmp_path / "missing.yaml")
