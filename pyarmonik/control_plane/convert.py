"""Protobuf <-> domain conversion shared by every service: request
validation and list pages.

Times and task options are converted by ``pyarmonik.protocol.options``
(shared with the agent); statuses are plain ``int()`` both ways
(``core.statuses`` keeps the wire numbers). The per-entity modules
(``convert_sessions`` ...) build on these helpers.

Request validation that needs no state (a missing id, an empty list) raises
``errors.InvalidArgument`` here, so servicers stay free of checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from google.protobuf.message import Message

from pyarmonik.core import errors, filters

# -- validation ----------------------------------------------------------


def required(value: str, name: str) -> str:
    if not value:
        raise errors.InvalidArgument(f"{name} is required")
    return value


def required_ids(values: Iterable[str], name: str) -> list[str]:
    """A non-empty list of non-empty ids."""
    ids = list(values)
    if not ids:
        raise errors.InvalidArgument(f"{name} must list at least one id")
    if not all(ids):
        raise errors.InvalidArgument(f"{name} contains an empty id")
    return ids


# -- lists ---------------------------------------------------------------


def list_query(request: object, where: filters.Filters, sort: filters.Sort | None) -> filters.ListQuery:
    """A List*Request's page and page size with its converted filter and sort;
    a negative page or page size is INVALID_ARGUMENT."""
    page: int = request.page  # type: ignore[attr-defined]
    page_size: int = request.page_size  # type: ignore[attr-defined]
    if page < 0 or page_size < 0:
        raise errors.InvalidArgument(f"page ({page}) and page_size ({page_size}) must not be negative")
    return filters.ListQuery(where=where, sort=sort, page=page, page_size=page_size)


#: gRPC clients refuse messages above 4 MiB by default (the official client
#: keeps that default); ArmoniK.Core fails ListTasksDetailed pages above it.
REPLY_LIMIT = 4 * 1024 * 1024 - 64 * 1024

R = TypeVar("R", bound=Message)


def page_reply(reply_type: type[R], field: str, request: object, items: Iterable[Message], total: int) -> R:
    """A List*Response holding as many of ``items`` as fit under the message
    limit every client accepts. A shortened page says so: its ``page_size`` is
    the number of items it holds, so the caller can ask for smaller pages."""
    kept, size = [], 0
    for item in items:
        size += item.ByteSize() + 8  # field tag and length prefix
        if size > REPLY_LIMIT:
            break
        kept.append(item)
    page_size: int = request.page_size  # type: ignore[attr-defined]
    shortened = len(kept) < min(page_size, total)
    return reply_type(
        **{field: kept},
        page=request.page,  # type: ignore[attr-defined]
        page_size=len(kept) if shortened and kept else page_size,
        total=total,
    )
