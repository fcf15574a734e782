"""Event subscriptions: replay of the current state, then live changes.

The bus subscription is opened BEFORE the replay reads the store, so a
change made during the replay is streamed too (a duplicate, which ArmoniK
allows), never lost. ``wait_for_result_availability`` of the official
client relies on the replay.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass

from pyarmonik.core import errors, filters
from pyarmonik.core.models import Event, Result, Task
from pyarmonik.core.statuses import EventKind
from pyarmonik.lifecycle.grid import Grid

_TASK_EVENTS = frozenset({EventKind.NEW_TASK, EventKind.TASK_STATUS_UPDATE})
_REPLAY_PAGE = 1000
#: The fields of a light update's record (see ``ports.EventBus.subscribe``).
_TASK_ID_FIELDS = frozenset({"task_id", "session_id"})
_RESULT_ID_FIELDS = frozenset({"result_id", "session_id"})


def _reads_only(where: filters.Filters, fields: frozenset[str]) -> bool:
    return all(condition.field in fields for clause in where for condition in clause)


@dataclass(frozen=True, slots=True)
class EventSelection:
    """Which events of one session a stream carries (a client's
    EventSubscriptionRequest, converted)."""

    session_id: str
    task_filters: filters.Filters = filters.EVERYTHING
    result_filters: filters.Filters = filters.EVERYTHING
    kinds: Collection[EventKind] = frozenset(EventKind) - {EventKind.UNSPECIFIED}

    @property
    def light(self) -> bool:
        """Whether the stream needs no more of a status or owner update than
        its ids and status (what its response carries): true unless a filter
        reads another field, which the bus then decodes."""
        return _reads_only(self.task_filters, _TASK_ID_FIELDS) and _reads_only(self.result_filters, _RESULT_ID_FIELDS)

    def matcher(self) -> Callable[[Event], bool]:
        """Whether an event is wanted; filters compiled once per stream, not
        per event (a stream may carry millions)."""
        kinds = frozenset(self.kinds)
        wants_task = filters.compile_filters(self.task_filters)
        wants_result = filters.compile_filters(self.result_filters)

        def wants(event: Event) -> bool:
            if event.kind not in kinds:
                return False
            if event.kind in _TASK_EVENTS:
                return wants_task(event.task)
            return wants_result(event.result)

        return wants


async def stream(grid: Grid, selection: EventSelection) -> AsyncIterator[Event]:
    await grid.state.get_session(selection.session_id)
    wants = selection.matcher()
    async with grid.events.subscribe(selection.session_id, kinds=selection.kinds, light=selection.light) as live:
        async for event in _replay(grid, selection, wants):
            yield event
        async for event in live:
            if wants(event):
                yield event


async def _replay(grid: Grid, selection: EventSelection, wants: Callable[[Event], bool]) -> AsyncIterator[Event]:
    """The session's records, filtered here with the stream's compiled filters
    (one set lookup for a list of ids) rather than by the store."""
    session_id = selection.session_id
    if EventKind.NEW_TASK in selection.kinds:
        async for task in _tasks(grid, session_id, filters.pinned(selection.task_filters, "task_id")):
            event = Event(EventKind.NEW_TASK, session_id, task=task)
            if wants(event):
                yield event
    if EventKind.NEW_RESULT in selection.kinds:
        async for result in _results(grid, session_id, filters.pinned(selection.result_filters, "result_id")):
            event = Event(EventKind.NEW_RESULT, session_id, result=result)
            if wants(event):
                yield event


# A stream that names its ids (``wait_for_result_availability`` asks for up to
# 1,000 results by id, and opens such streams again and again) reads those
# records only, not the whole session's: the scan made the control plane's
# replays a third of its CPU. When one named id is missing or of another
# session, the session is scanned (a replay shows exactly what exists).
async def _tasks(grid: Grid, session_id: str, ids: frozenset[str] | None) -> AsyncIterator[Task]:
    if ids is not None:
        with contextlib.suppress(errors.NotFound):
            named = await grid.state.get_tasks(sorted(ids))
            if all(task.session_id == session_id for task in named):
                for task in named:
                    yield task
                return
    async for task in _pages(grid.state.list_tasks, _whole(session_id)):
        yield task


async def _results(grid: Grid, session_id: str, ids: frozenset[str] | None) -> AsyncIterator[Result]:
    if ids is not None:
        with contextlib.suppress(errors.NotFound):
            named = await grid.state.get_results(sorted(ids), session_id=session_id)
            for result in named:
                yield result
            return
    async for result in _pages(grid.state.list_results, _whole(session_id)):
        yield result


def _whole(session_id: str) -> filters.ListQuery:
    return filters.ListQuery(where=filters.in_session(session_id), page_size=_REPLAY_PAGE)


async def _pages(lister, query: filters.ListQuery) -> AsyncIterator:  # type: ignore[no-untyped-def]
    page = 0
    while True:
        found = await lister(query=filters.ListQuery(query.where, query.sort, page, query.page_size))
        for item in found.items:
            yield item
        page += 1
        if page * query.page_size >= found.total:
            return
