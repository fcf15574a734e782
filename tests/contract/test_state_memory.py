"""The in-memory state store against the StateStore contract."""

from __future__ import annotations

import pytest

from pyarmonik.storage.memory.state import MemoryStateStore

from .state_contract import RecordingEventBus, StateStoreContract
from .status_counts_contract import StatusCountsContract


class TestMemoryStateStore(StateStoreContract, StatusCountsContract):
    @pytest.fixture
    def state_store(self, event_bus: RecordingEventBus) -> MemoryStateStore:
        return MemoryStateStore(event_bus)
