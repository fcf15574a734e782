"""Session isolation's filters: clauses cut to the caller's sessions.
What the isolated store does with them runs on Redis, in
``tests/integration/test_isolated_state.py``."""

from __future__ import annotations

from pyarmonik.core import filters
from pyarmonik.core.filters import Condition, Op, ValueKind
from pyarmonik.lifecycle.isolation import restrict


def test_restrict_keeps_clauses_on_owned_sessions_as_they_are() -> None:
    on_s1 = (Condition("session_id", ValueKind.STRING, Op.EQ, "s1"),)
    on_s2 = (Condition("session_id", ValueKind.STRING, Op.EQ, "s2"),)
    anywhere = (Condition("status", ValueKind.STATUS, Op.EQ, 1),)

    assert restrict((on_s1, on_s2), frozenset({"s1"})) == (on_s1,)
    assert restrict((anywhere,), frozenset({"s1"})) == ((*anywhere, filters.in_sessions(frozenset({"s1"}))),)
    assert restrict((), frozenset()) == ((filters.in_sessions(frozenset()),),)
    assert filters.session_ids_in(restrict((anywhere,), frozenset({"s1", "s3"}))) == {"s1", "s3"}
