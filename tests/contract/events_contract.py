"""Contract of ``EventBus``: every adapter passes these tests.

An adapter's test module subclasses ``EventBusContract`` and defines an
``event_bus`` fixture returning a fresh bus with no subscribers, and a
``publish`` fixture: an async function that publishes events the way the
adapter's state store does (the port itself only subscribes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest

from pyarmonik.core.models import Event, Result
from pyarmonik.core.statuses import EventKind, ResultStatus
from pyarmonik.storage.ports import EventBus

Publish = Callable[[Sequence[Event]], Awaitable[None]]

WAIT = 2.0  # bound on every wait for an event that should come
QUIET = 0.05  # how long to listen to conclude that no event comes


def event(session_id: str, owner: str = "") -> Event:
    """A distinguishable event: ``owner`` tells events of a session apart."""
    moved = Result(session_id, "result", "", ResultStatus.CREATED, 0.0, owner_task_id=owner)
    return Event(kind=EventKind.RESULT_OWNER_UPDATE, session_id=session_id, result=moved, current_owner_id=owner)


async def receive(events: AsyncIterator[Event], count: int) -> list[Event]:
    return [await asyncio.wait_for(anext(events), WAIT) for _ in range(count)]


async def nothing_more(events: AsyncIterator[Event]) -> bool:
    try:
        await asyncio.wait_for(anext(events), QUIET)
    except (TimeoutError, StopAsyncIteration):  # not TimeoutError: Python 3.10 tells them apart
        return True
    return False


class EventBusContract:
    async def test_a_subscriber_sees_the_events_of_its_session_in_publish_order(
        self, event_bus: EventBus, publish: Publish
    ) -> None:
        async with event_bus.subscribe("s") as events:
            await publish([event("s", "1"), event("s", "2")])
            await publish([event("s", "3")])
            received = await receive(events, 3)
        assert [e.current_owner_id for e in received] == ["1", "2", "3"]
        assert all(e.session_id == "s" for e in received)

    async def test_a_subscriber_does_not_see_the_events_of_other_sessions(
        self, event_bus: EventBus, publish: Publish
    ) -> None:
        async with event_bus.subscribe("s") as events:
            await publish([event("other", "x"), event("s", "1"), event("other", "y")])
            assert [e.current_owner_id for e in await receive(events, 1)] == ["1"]
            assert await nothing_more(events)

    async def test_events_published_before_subscribing_are_not_seen(
        self, event_bus: EventBus, publish: Publish
    ) -> None:
        await publish([event("s", "before")])
        async with event_bus.subscribe("s") as events:
            await publish([event("s", "after")])
            assert [e.current_owner_id for e in await receive(events, 1)] == ["after"]
            assert await nothing_more(events)

    async def test_two_subscribers_of_a_session_both_see_every_event(
        self, event_bus: EventBus, publish: Publish
    ) -> None:
        async with event_bus.subscribe("s") as first, event_bus.subscribe("s") as second:
            await publish([event("s", "1"), event("s", "2")])
            assert [e.current_owner_id for e in await receive(first, 2)] == ["1", "2"]
            assert [e.current_owner_id for e in await receive(second, 2)] == ["1", "2"]

    async def test_subscribers_of_different_sessions_each_see_their_own(
        self, event_bus: EventBus, publish: Publish
    ) -> None:
        async with event_bus.subscribe("a") as a, event_bus.subscribe("b") as b:
            await publish([event("a", "a1"), event("b", "b1"), event("a", "a2")])
            assert [e.current_owner_id for e in await receive(a, 2)] == ["a1", "a2"]
            assert [e.current_owner_id for e in await receive(b, 1)] == ["b1"]
            assert await nothing_more(b)

    async def test_a_waiting_subscriber_is_woken_by_a_publish(self, event_bus: EventBus, publish: Publish) -> None:
        async with event_bus.subscribe("s") as events:
            waiting = asyncio.ensure_future(receive(events, 1))
            # "Still waiting" can only be seen over a while: the QUIET of nothing_more.
            assert not (await asyncio.wait([waiting], timeout=QUIET))[0]
            await publish([event("s", "1")])
            assert [e.current_owner_id for e in await asyncio.wait_for(waiting, WAIT)] == ["1"]

    async def test_a_new_subscription_does_not_see_what_was_published_to_an_exited_one(
        self, event_bus: EventBus, publish: Publish
    ) -> None:
        async with event_bus.subscribe("s") as events:
            await publish([event("s", "old")])
            await receive(events, 1)
        await publish([event("s", "between")])
        async with event_bus.subscribe("s") as events:
            await publish([event("s", "new")])
            assert [e.current_owner_id for e in await receive(events, 1)] == ["new"]

    async def test_the_iterator_ends_once_the_subscription_has_exited(
        self, event_bus: EventBus, publish: Publish
    ) -> None:
        async with event_bus.subscribe("s") as events:
            pass
        await publish([event("s", "late")])
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(events), WAIT)

    async def test_publishing_without_subscribers_is_harmless(self, publish: Publish) -> None:
        await publish([event("nobody", "1")])
        await publish([])
