"""Events service: a session's task and result changes, after a replay of
their current state (which ``wait_for_result_availability`` relies on)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from armonik.protogen.client import events_service_pb2_grpc
from armonik.protogen.common import events_common_pb2 as pb
from grpc import aio

from pyarmonik.control_plane import convert_events
from pyarmonik.lifecycle import events
from pyarmonik.lifecycle.grid import Grid


class EventsServicer(events_service_pb2_grpc.EventsServicer):
    def __init__(self, grid: Grid) -> None:
        self._grid = grid

    async def GetEvents(
        self, request: pb.EventSubscriptionRequest, context: aio.ServicerContext
    ) -> AsyncIterator[pb.EventSubscriptionResponse]:
        async for event in events.stream(self._grid, convert_events.selection(request)):
            yield convert_events.event_response(event)
