"""Which objects of the store the grid owns, and so may hand over or delete.

A result's data is the object its ``opaque_id`` names. Two kinds of keys
share the store (docs/security.md, "Object keys"):

- the grid's: ``<result id>.<12 hex digits>``, a fresh key for each write of
  a result's data (``new_key``). Such an object belongs to the result it was
  written for, and only while that result names it: deleting the result's
  data deletes it. Importing it (ImportResultsData) needs the right to
  download that result, and gives the importing result a copy of its own.
- an operator's: any other key, an object placed in the store for
  ImportResultsData. The grid only refers to it: any number of results may
  name it, and deleting their data never deletes it.

So deleting one result's data never deletes an object another result
reads, and a key seen in a log gives nobody a result they cannot download.
No reference is counted anywhere: the key alone says whose object it is.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from pyarmonik.core.models import Result

_SUFFIX_DIGITS = 12  # hex digits after the dot: 6 random bytes
_HEX = frozenset("0123456789abcdef")


def new_key(result_id: str) -> str:
    """A fresh key for each write of a result's data: two writers of the same
    result (a late agent and its retry) never overwrite each other."""
    return f"{result_id}.{secrets.token_hex(_SUFFIX_DIGITS // 2)}"


def written_for(key: str) -> str | None:
    """The result the grid wrote ``key`` for, ``None`` for an operator's key."""
    head, dot, suffix = key.rpartition(".")
    if not dot or not head or "/" in head or len(suffix) != _SUFFIX_DIGITS or not set(suffix) <= _HEX:
        return None
    return head


def key_of(result: Result) -> str:
    return result.opaque_id.decode(errors="replace")


def owned(opaque_ids: Mapping[str, bytes]) -> list[str]:
    """Of results' keys (result id -> opaque id), those the grid wrote for
    them: the objects deleting their data deletes (an imported operator's
    object is left in place)."""
    keys = ((result_id, opaque.decode(errors="replace")) for result_id, opaque in opaque_ids.items() if opaque)
    return [key for result_id, key in keys if written_for(key) == result_id]
