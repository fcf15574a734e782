"""Who is calling: ArmoniK's users, roles and permissions, without I/O.

A permission is ArmoniK's ``Service:Method`` (``Sessions:CreateSession``);
a role grants permissions, a user holds roles. Roles may grant wildcards:
``Service:*`` (every method of a service) and ``*`` (everything). A third
part (``Sessions:CancelSession:Self``) is accepted as ArmoniK does and,
as there, not used.

The control plane's authentication interceptor puts the caller's
``Identity`` in a context variable for the duration of each call; the
use cases read it with ``current()``. Code running outside a client call
(agents, the lease reaper) sees ``None``: it acts for the grid itself.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from dataclasses import dataclass

#: Reach every session as its owner would (operators, ArmoniK's admin GUI).
#: Under ``General`` so that a client role granted ``Sessions:*`` does not get it.
ALL_SESSIONS = "General:AllSessions"
WILDCARD = "*"
SEPARATOR = ":"


def base(permission: str) -> str:
    """``Service:Method`` of a permission that may carry a target."""
    return SEPARATOR.join(permission.split(SEPARATOR)[:2])


def grants(granted: str, wanted: str) -> bool:
    """Whether a permission a role grants covers ``wanted`` (``Service:Method``)."""
    granted = base(granted)
    if granted in (WILDCARD, wanted):
        return True
    service, _, method = granted.partition(SEPARATOR)
    return method == WILDCARD and wanted.startswith(service + SEPARATOR)


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller: its user name, roles and what they grant
    (as written in the roles, wildcards included)."""

    username: str
    roles: tuple[str, ...] = ()
    granted: frozenset[str] = frozenset()

    def allows(self, permission: str) -> bool:
        return any(grants(granted, permission) for granted in self.granted)

    @property
    def sees_every_session(self) -> bool:
        return self.allows(ALL_SESSIONS)

    def permissions(self, known: Iterable[str]) -> list[str]:
        """The ``known`` permissions this identity has, wildcards expanded,
        as ``GetCurrentUser`` lists them."""
        return [permission for permission in known if self.allows(permission)]


#: The caller while authentication is off: allowed everything, as in ArmoniK.
ANONYMOUS = Identity("anonymous", (), frozenset({WILDCARD}))

_current: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("pyarmonik_identity", default=None)


def current() -> Identity | None:
    """The caller of the running client call; ``None`` outside one."""
    return _current.get()


def set_current(identity: Identity | None) -> contextvars.Token[Identity | None]:
    return _current.set(identity)


def reset(token: contextvars.Token[Identity | None]) -> None:
    _current.reset(token)
