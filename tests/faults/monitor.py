"""Event streams of the campaign's session, one per control plane, from the
start: what the grid said, to check against what it stored.

Each monitor asks for live updates only (no NEW_TASK/NEW_RESULT, so no
replay of the session on every reconnection) and subscribes again whenever
its stream breaks (its control plane killed, Redis restarted). Redis
pub/sub delivers each event at most once to each subscription, so:
- a result announced COMPLETED twice on one monitor was completed twice;
- a completion made while a stream was surely subscribed and missing from
  it was lost by the event path. Surely subscribed: from the first event
  the stream delivered (the server subscribes some time after the call,
  later still when Redis is down) until the next break (a Redis restart or
  a kill of its control plane), after which the stream must end.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
from armonik.client import ArmoniKEvents
from armonik.common import (
    Event,
    EventTypes,
    ResultOwnerUpdateEvent,
    ResultStatus,
    ResultStatusUpdateEvent,
    TaskStatus,
    TaskStatusUpdateEvent,
)

from tests.faults import workload

KINDS = [EventTypes.RESULT_STATUS_UPDATE, EventTypes.TASK_STATUS_UPDATE, EventTypes.RESULT_OWNER_UPDATE]
RESUBSCRIBE_PAUSE = 0.5
#: Task statuses no fault may lead to: the graph has no failing task.
FAILED = frozenset({TaskStatus.ERROR, TaskStatus.TIMEOUT, TaskStatus.CANCELLED, TaskStatus.CANCELLING})


@dataclass
class Stream:
    """One subscription: when it was asked for, when it ended, and the
    results it saw completed."""

    opened: float
    ended: float | None = None
    first_event: float | None = None
    completed: set[str] = field(default_factory=set)

    def window(self, breaks: list[float], *, margin: float) -> tuple[float, float] | None:
        """When it was surely subscribed: from its first event until
        ``margin`` before the first of ``breaks`` after it, or its end."""
        if self.first_event is None:
            return None
        end = self.ended if self.ended is not None else float("inf")
        cut = next((b for b in sorted(breaks) if b > self.first_event), float("inf"))
        return self.first_event, min(end, cut) - margin


@dataclass
class Monitor:
    address: str
    session_id: str
    index: int = 0  # of its control plane in the deployment
    streams: list[Stream] = field(default_factory=list)
    result_completions: Counter[str] = field(default_factory=Counter)
    task_completions: Counter[str] = field(default_factory=Counter)
    owner_updates: int = 0
    aborted: list[str] = field(default_factory=list)
    failed_tasks: list[str] = field(default_factory=list)
    events: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _channel: grpc.Channel | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"events-{self.address}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._channel is not None:
                self._channel.close()  # ends the stream the thread waits on
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if self._stop.is_set():
                    return
                self._channel = grpc.insecure_channel(self.address, options=workload.CHANNEL_OPTIONS)
            stream = Stream(opened=time.time())
            self.streams.append(stream)
            try:
                ArmoniKEvents(self._channel).get_events(
                    self.session_id, KINDS, [functools.partial(self._handle, stream)]
                )
            except grpc.RpcError:
                pass  # a broken stream: subscribe again
            finally:
                stream.ended = time.time()
                with self._lock:
                    self._channel.close()
                    self._channel = None
            self._stop.wait(RESUBSCRIBE_PAUSE)

    def _handle(self, stream: Stream, _session: str, _kind: object, event: Event) -> bool:
        self.events += 1
        if stream.first_event is None:
            stream.first_event = time.time()
        if isinstance(event, ResultStatusUpdateEvent):
            if event.status == ResultStatus.COMPLETED:
                self.result_completions[event.result_id] += 1
                stream.completed.add(event.result_id)
            elif event.status == ResultStatus.ABORTED:
                self.aborted.append(event.result_id)
        elif isinstance(event, TaskStatusUpdateEvent):
            if event.status == TaskStatus.COMPLETED:
                self.task_completions[event.task_id] += 1
            elif event.status in FAILED:
                self.failed_tasks.append(f"{event.task_id} {TaskStatus(event.status).name}")
        elif isinstance(event, ResultOwnerUpdateEvent):
            self.owner_updates += 1
        return self._stop.is_set()
