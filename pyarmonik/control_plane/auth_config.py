"""Users, roles and permissions from a file, ArmoniK's model.

A user holds roles, a role grants permissions (``Service:Method``,
``Service:*``, ``*``), a certificate identifies a user by its common name
(CN) and/or fingerprint. As in ArmoniK.Core, an entry with both matches that
one certificate and wins over an entry with the CN only, which matches any
certificate (signed by the trusted CA) with that CN; an entry with the
fingerprint only matches that certificate whatever its CN. Fingerprints are
hex SHA-1 (what ArmoniK's nginx ingress sends) or SHA-256; colons and case
are ignored.

The file is YAML (JSON is YAML too)::

    users:
      - name: alice
        cn: alice                  # and/or fingerprint: "3f:a2:..."
        roles: [submitter]
    roles:
      - name: submitter
        permissions: ["Sessions:*", "Tasks:*", "Results:*", "Events:*"]
    certificates:                  # optional, ArmoniK.Core's separate list
      - {user: alice, cn: alice-laptop, fingerprint: "..."}

Loading refuses, in one line naming the file, an unknown role, a
permission no service has, or one certificate given to two users: a typo
must not silently lock a user out or let one in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pydantic
import yaml

from pyarmonik.control_plane import api
from pyarmonik.core import identity
from pyarmonik.core.identity import Identity


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class CertificateEntry(_Strict):
    cn: str | None = None
    fingerprint: str | None = None


class UserEntry(_Strict):
    name: str = pydantic.Field(min_length=1)
    roles: list[str] = []
    cn: str | None = None
    fingerprint: str | None = None
    certificates: list[CertificateEntry] = []


class RoleEntry(_Strict):
    name: str = pydantic.Field(min_length=1)
    permissions: list[str] = []


class UserCertificate(CertificateEntry):
    user: str


class AuthFile(_Strict):
    users: list[UserEntry] = []
    roles: list[RoleEntry] = []
    certificates: list[UserCertificate] = []


def known_permissions() -> list[str]:
    """Every permission a role may name: one per RPC, plus ``General:AllSessions``."""
    return [*api.permissions(), identity.ALL_SESSIONS]


def normalized_fingerprint(value: str) -> str:
    return value.replace(":", "").replace(" ", "").lower()


def _check_permission(permission: str, known: set[str], services: set[str]) -> None:
    granted = identity.base(permission)
    service, _, method = granted.partition(identity.SEPARATOR)
    if granted == identity.WILDCARD or (method == identity.WILDCARD and service in services) or granted in known:
        return
    raise ValueError(f"unknown permission {permission!r} (Service:Method, Service:* or *; services: "
                     f"{', '.join(sorted(services))})")  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Certificates -> identities, ready to answer each call."""

    #: (cn or None, fingerprint or None) -> the identity of that entry
    by_certificate: dict[tuple[str | None, str | None], Identity]

    @classmethod
    def parse(cls, data: object) -> AuthConfig:
        """Raises ``ValueError`` for a file that does not hold a valid config."""
        try:
            parsed = AuthFile.model_validate(data if data is not None else {})
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise ValueError(f"{where}: {error['msg']}") from None
        known = set(known_permissions())
        services = {p.partition(identity.SEPARATOR)[0] for p in known}
        roles: dict[str, RoleEntry] = {}
        for role in parsed.roles:
            if role.name in roles:
                raise ValueError(f"role {role.name!r} is defined twice")
            for permission in role.permissions:
                _check_permission(permission, known, services)
            roles[role.name] = role
        users: dict[str, Identity] = {}
        for user in parsed.users:
            if user.name in users:
                raise ValueError(f"user {user.name!r} is defined twice")
            unknown = [r for r in user.roles if r not in roles]
            if unknown:
                raise ValueError(f"user {user.name!r} has undefined roles: {', '.join(unknown)}")
            granted = frozenset(p for r in user.roles for p in roles[r].permissions)
            users[user.name] = Identity(user.name, tuple(user.roles), granted)
        return cls(_certificates(parsed, users))

    def identify(self, cn: str | None, fingerprints: Iterable[str]) -> Identity | None:
        """The identity of a certificate: its CN and the fingerprints it may
        be known by (both hashes of a peer certificate, or the one a proxy sent)."""
        prints = [normalized_fingerprint(f) for f in fingerprints if f]
        candidates = [*((cn, f) for f in prints), *((None, f) for f in prints), (cn, None)]
        for key in candidates:
            if key != (None, None) and key in self.by_certificate:
                return self.by_certificate[key]
        return None


def _certificates(parsed: AuthFile, users: dict[str, Identity]) -> dict[tuple[str | None, str | None], Identity]:
    entries: list[tuple[str, CertificateEntry]] = []
    for user in parsed.users:
        if user.cn is not None or user.fingerprint is not None:
            entries.append((user.name, CertificateEntry(cn=user.cn, fingerprint=user.fingerprint)))
        entries.extend((user.name, certificate) for certificate in user.certificates)
    entries.extend((c.user, CertificateEntry(cn=c.cn, fingerprint=c.fingerprint)) for c in parsed.certificates)
    found: dict[tuple[str | None, str | None], Identity] = {}
    for name, entry in entries:
        if name not in users:
            raise ValueError(f"a certificate names the undefined user {name!r}")
        key = (entry.cn or None, normalized_fingerprint(entry.fingerprint) if entry.fingerprint else None)
        if key == (None, None):
            raise ValueError(f"a certificate of user {name!r} has neither cn nor fingerprint")
        if key in found and found[key].username != name:
            raise ValueError(f"certificate {key} is given to both {found[key].username!r} and {name!r}")
        found[key] = users[name]
    return found


def load(path: Path) -> AuthConfig:
    """The config in ``path``; ``ValueError`` naming the file for a bad one."""
    try:
        text = path.read_text()
        return AuthConfig.parse(json.loads(text) if path.suffix == ".json" else yaml.safe_load(text))
    except OSError as exc:
        raise ValueError(f"cannot read the auth config {path}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ValueError(f"auth config {path} is not valid YAML or JSON: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"auth config {path}: {exc}") from None
