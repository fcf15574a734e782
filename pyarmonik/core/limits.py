"""The client API's size limits, and the errors that name them.

A hostile or buggy client must not make the grid store unbounded batches,
objects or names. Each limit carries the setting that raises it, so a
refusal tells the caller (and whoever runs the grid) exactly what to change.
Counts and lengths are a bad request (INVALID_ARGUMENT); a size in bytes is
RESOURCE_EXHAUSTED, as gRPC reports a message above its own limit.

``Limits()`` limits nothing: the use cases check limits in the control
plane's grid, which the settings fill; agents and tests run without them.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass, field

from pyarmonik.core import errors
from pyarmonik.core.models import TaskOptions


@dataclass(frozen=True, slots=True)
class Limit:
    value: int | None = None
    #: How to raise it, e.g. ``--max-tasks-per-request (PYARMONIK_MAX_TASKS_PER_REQUEST)``.
    setting: str = ""

    def _raise_with(self) -> str:
        return f"raise it with {self.setting}" if self.setting else "a limit of this grid"


@dataclass(frozen=True, slots=True)
class Limits:
    tasks_per_request: Limit = field(default_factory=Limit)
    results_per_request: Limit = field(default_factory=Limit)
    result_data_size: Limit = field(default_factory=Limit)
    id_length: Limit = field(default_factory=Limit)
    task_options_size: Limit = field(default_factory=Limit)


def check_count(limit: Limit, count: int, *, what: str) -> None:
    """``what`` (e.g. "tasks in one SubmitTasks request") number ``count``."""
    if limit.value is not None and count > limit.value:
        raise errors.InvalidArgument(
            f"{count} {what}: the limit is {limit.value} ({limit._raise_with()}); split the request"
        )


def check_ids(limit: Limit, values: Iterable[str], *, what: str) -> None:
    """Every id or name of ``values`` (``what`` they are) is short enough."""
    if limit.value is None:
        return
    for value in values:
        if len(value) > limit.value:
            shown = value[:32] + "..." if len(value) > 32 else value
            raise errors.InvalidArgument(
                f"{what} {shown!r} is {len(value)} characters long: the limit is {limit.value} ({limit._raise_with()})"
            )


def option_names(options: TaskOptions | None) -> list[str]:
    """The names task options carry, which the grid stores and indexes."""
    if options is None:
        return []
    return [
        options.partition_id,
        options.application_name,
        options.application_version,
        options.application_namespace,
        options.application_service,
        options.engine_type,
        *options.options,
    ]


def options_size(options: TaskOptions) -> int:
    """Bytes of the names and values of ``options``: what the grid stores
    with each task (and copies into each task of a batch)."""
    texts = [*option_names(options), *options.options.values()]
    return sum(len(text.encode(errors="replace")) for text in texts)


def check_options_size(limit: Limit, options: TaskOptions | None, *, what: str) -> None:
    """The task options of ``what`` (e.g. "the default options of the
    session") fit the limit; INVALID_ARGUMENT, as a name too long."""
    if limit.value is None or options is None:
        return
    size = options_size(options)
    if size > limit.value:
        raise errors.InvalidArgument(
            f"{what}: task options of {size} bytes (names and values): the limit is {limit.value} bytes "
            f"({limit._raise_with()})"
        )


def _too_large(limit: Limit, size: int, what: str) -> errors.ResourceExhausted:
    return errors.ResourceExhausted(
        f"{what} is larger than {limit.value} bytes (at least {size} bytes): the limit is {limit.value} "
        f"bytes ({limit._raise_with()})"
    )


def check_size(limit: Limit, size: int, *, what: str) -> None:
    if limit.value is not None and size > limit.value:
        raise _too_large(limit, size, what)


async def bounded(limit: Limit, chunks: AsyncIterable[bytes], *, what: str) -> AsyncIterator[bytes]:
    """``chunks``, refused with RESOURCE_EXHAUSTED as soon as their running
    total passes the limit: nothing beyond it is read, nothing is buffered."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if limit.value is not None and total > limit.value:
            raise _too_large(limit, total, what)
        yield chunk
