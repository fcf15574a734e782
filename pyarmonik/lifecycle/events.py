"""Event subscriptions: replay of the current state, then live changes.

The bus subscription is opened BEFORE the replay reads the store, so a
change made during the replay is streamed too (a duplicate, which ArmoniK
allows), never lost. ``wait_for_result_availability`` of the official
client relies on the replay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass

from pyarmonik.core import filters
from pyarmonik.core.models import Event
from pyarmonik.core.statuses import EventKind
from pyarmonik.lifecycle.grid import Grid

_TASK_EVENTS = frozenset({EventKind.NEW_TASK, EventKind.TASK_STATUS_UPDATE})
_REPLAY_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Subscription:
    session_id: str
    task_filters: filters.Filters = filters.EVERYTHING
    result_filters: filters.Filters = filters.EVERYTHING
    kinds: Collection[EventKind] = frozenset(EventKind) - {EventKind.UNSPECIFIED}

    def wants(self, event: Event) -> bool:
        if event.kind not in self.kinds:
            return False
        if event.kind in _TASK_EVENTS:
            return filters.matches(event.task, self.task_filters)
        return filters.matches(event.result, self.result_filters)


def _in_session(session_id: str, where: filters.Filters) -> filters.Filters:
    pin = filters.Condition("session_id", filters.ValueKind.STRING, filters.Op.EQ, session_id)
    return tuple((pin, *clause) for clause in where) or ((pin,),)


async def stream(grid: Grid, subscription: Subscription) -> AsyncIterator[Event]:
    await grid.state.get_session(subscription.session_id)
    async with grid.events.subscribe(subscription.session_id) as live:
        async for event in _replay(grid, subscription):
            yield event
        async for event in live:
            if subscription.wants(event):
                yield event


async def _replay(grid: Grid, sub: Subscription) -> AsyncIterator[Event]:
    if EventKind.NEW_TASK in sub.kinds:
        query = filters.ListQuery(where=_in_session(sub.session_id, sub.task_filters), page_size=_REPLAY_PAGE)
        async for task in _pages(grid.state.list_tasks, query):
            yield Event(EventKind.NEW_TASK, sub.session_id, task=task)
    if EventKind.NEW_RESULT in sub.kinds:
        query = filters.ListQuery(where=_in_session(sub.session_id, sub.result_filters), page_size=_REPLAY_PAGE)
        async for result in _pages(grid.state.list_results, query):
            yield Event(EventKind.NEW_RESULT, sub.session_id, result=result)


async def _pages(lister, query: filters.ListQuery) -> AsyncIterator:  # type: ignore[no-untyped-def]
    page = 0
    while True:
        found = await lister(query=filters.ListQuery(query.where, query.sort, page, query.page_size))
        for item in found.items:
            yield item
        page += 1
        if page * query.page_size >= found.total:
            return
