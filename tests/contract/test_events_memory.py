"""The in-memory event bus against the EventBus contract."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pyarmonik.core.models import Event
from pyarmonik.storage.memory.events import MemoryEventBus

from .events_contract import EventBusContract, Publish


class TestMemoryEventBus(EventBusContract):
    @pytest.fixture
    def event_bus(self) -> MemoryEventBus:
        return MemoryEventBus()

    @pytest.fixture
    def publish(self, event_bus: MemoryEventBus) -> Publish:
        """As the memory state store does: straight to its bus."""

        async def publish(events: Sequence[Event]) -> None:
            event_bus.publish(events)

        return publish

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
