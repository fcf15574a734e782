"""The in-memory event bus against the EventBus contract."""

from __future__ import annotations

import asyncio

import pytest

from pyarmonik.storage.memory.events import MemoryEventBus

from .events_contract import WAIT, EventBusContract, event


class TestMemoryEventBus(EventBusContract):
    @pytest.fixture
    def event_bus(self) -> MemoryEventBus:
        return MemoryEventBus()

    async def test_entering_subscribes_and_exiting_unsubscribes(self, event_bus: MemoryEventBus) -> None:
        assert event_bus.subscriber_count("s") == 0
        async with event_bus.subscribe("s"):
            assert event_bus.subscriber_count("s") == 1
            async with event_bus.subscribe("s"):
                assert event_bus.subscriber_count("s") == 2
            assert event_bus.subscriber_count("s") == 1
        assert event_bus.subscriber_count("s") == 0

    async def test_exiting_on_an_error_still_unsubscribes(self, event_bus: MemoryEventBus) -> None:
        with pytest.raises(RuntimeError):
            async with event_bus.subscribe("s"):
                raise RuntimeError("boom")
        assert event_bus.subscriber_count("s") == 0

    async def test_the_iterator_ends_once_the_subscription_has_exited(self, event_bus: MemoryEventBus) -> None:
        async with event_bus.subscribe("s") as events:
            pass
        event_bus.publish([event("s", "late")])
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(events), WAIT)
