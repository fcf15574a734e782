"""The Events service and Results.WatchResults: replay, then live changes."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import grpc
import pytest
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import (
    Event,
    EventTypes,
    NewResultEvent,
    NewTaskEvent,
    Result,
    ResultStatus,
    TaskDefinition,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from armonik.protogen.client.events_service_pb2_grpc import EventsStub
from armonik.protogen.client.results_service_pb2_grpc import ResultsStub
from armonik.protogen.common import events_common_pb2, results_common_pb2

from tests.helpers import grpc_code, wait_for

from .conftest import RunningGrid


class Background:
    """Runs a blocking call in a thread and keeps its outcome for the test."""

    def __init__(self, call: Callable[[], object]) -> None:
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._call = call
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._call()
        except BaseException as error:  # kept for the test to assert on
            self.error = error
        finally:
            self.done.set()


def subscribed(running_grid: RunningGrid, session_id: str) -> Callable[[], bool]:
    def has_subscriber() -> bool:
        return running_grid.subscriber_count(session_id) > 0

    return has_subscriber


def test_waiting_for_results_completed_before_subscribing_returns(
    events: ArmoniKEvents, results: ArmoniKResults, session_id: str
) -> None:
    created = results.create_results({"a": b"a", "b": b"b"}, session_id, batch_size=2)

    events.wait_for_result_availability([r.result_id for r in created.values()], session_id)


def test_waiting_for_a_result_completed_after_subscribing_returns(
    running_grid: RunningGrid, events: ArmoniKEvents, results: ArmoniKResults, session_id: str
) -> None:
    result_id = results.create_results_metadata(["later"], session_id)["later"].result_id
    waiter = Background(lambda: events.wait_for_result_availability(result_id, session_id))
    wait_for(subscribed(running_grid, session_id))

    results.upload_result_data(result_id, session_id, b"done")

    wait_for(waiter.done.is_set)
    assert waiter.error is None
    wait_for(lambda: not subscribed(running_grid, session_id)())  # the server let go of the stream


def test_waiting_for_an_aborted_result_raises(
    running_grid: RunningGrid,
    events: ArmoniKEvents,
    results: ArmoniKResults,
    tasks: ArmoniKTasks,
    session_id: str,
) -> None:
    created = results.create_results_metadata(["payload", "out"], session_id)
    [task] = tasks.submit_tasks(
        session_id,
        [TaskDefinition(payload_id=created["payload"].result_id, expected_output_ids=[created["out"].result_id])],
    )
    waiter = Background(lambda: events.wait_for_result_availability(created["out"].result_id, session_id))
    wait_for(subscribed(running_grid, session_id))

    tasks.cancel_tasks([task.id])

    wait_for(waiter.done.is_set)
    assert isinstance(waiter.error, RuntimeError)
    with pytest.raises(RuntimeError):  # and at once, from the replay, when already aborted
        events.wait_for_result_availability(created["out"].result_id, session_id)


def collect(
    events: ArmoniKEvents, session_id: str, kinds: list[EventTypes], count: int, **filters: object
) -> list[Event]:
    """The first ``count`` events of a subscription."""
    received: list[Event] = []

    def handler(_session: str, _kind: EventTypes, event: Event) -> bool:
        received.append(event)
        return len(received) >= count

    events.get_events(session_id, kinds, [handler], **filters)  # type: ignore[arg-type]
    return received


def test_get_events_replays_only_the_requested_kinds(
    events: ArmoniKEvents, results: ArmoniKResults, tasks: ArmoniKTasks, session_id: str
) -> None:
    created = results.create_results({"payload": b"p"}, session_id)
    output = results.create_results_metadata(["out"], session_id)["out"]
    [task] = tasks.submit_tasks(
        session_id, [TaskDefinition(payload_id=created["payload"].result_id, expected_output_ids=[output.result_id])]
    )

    [new_task] = collect(events, session_id, [EventTypes.NEW_TASK], 1)
    assert isinstance(new_task, NewTaskEvent)
    assert (new_task.task_id, new_task.status) == (task.id, TaskStatus.SUBMITTED)
    assert new_task.expected_output_keys == [output.result_id]

    [new_result] = collect(
        events, session_id, [EventTypes.NEW_RESULT], 1, result_filter=Result.result_id == output.result_id
    )
    assert isinstance(new_result, NewResultEvent)
    assert (new_result.result_id, new_result.owner_id, new_result.status) == (
        output.result_id,
        task.id,
        ResultStatus.CREATED,
    )


def test_a_stream_naming_its_results_replays_them_even_when_one_named_id_does_not_exist(
    events: ArmoniKEvents, results: ArmoniKResults, session_id: str
) -> None:
    made = results.create_results_metadata(["a", "b", "c"], session_id)
    a, b = made["a"].result_id, made["b"].result_id
    named = (Result.result_id == a) | (Result.result_id == b)
    replayed = collect(events, session_id, [EventTypes.NEW_RESULT], 2, result_filter=named)
    assert sorted(e.result_id for e in replayed) == sorted([a, b])  # type: ignore[attr-defined]
    with_unknown = named | (Result.result_id == "no-such-result")
    replayed = collect(events, session_id, [EventTypes.NEW_RESULT], 2, result_filter=with_unknown)
    assert sorted(e.result_id for e in replayed) == sorted([a, b])  # type: ignore[attr-defined]


def test_get_events_streams_changes_after_the_replay(
    running_grid: RunningGrid, events: ArmoniKEvents, results: ArmoniKResults, tasks: ArmoniKTasks, session_id: str
) -> None:
    created = results.create_results({"payload": b"p"}, session_id)
    output = results.create_results_metadata(["out"], session_id)["out"]
    [task] = tasks.submit_tasks(
        session_id, [TaskDefinition(payload_id=created["payload"].result_id, expected_output_ids=[output.result_id])]
    )
    received: list[Event] = []
    listener = Background(lambda: received.extend(collect(events, session_id, [EventTypes.TASK_STATUS_UPDATE], 1)))
    wait_for(subscribed(running_grid, session_id))

    tasks.cancel_tasks([task.id])

    wait_for(listener.done.is_set)
    assert listener.error is None
    assert received == [TaskStatusUpdateEvent(task_id=task.id, status=TaskStatus.CANCELLED)]


@pytest.mark.parametrize(
    ("session", "expected"), [("", grpc.StatusCode.INVALID_ARGUMENT), ("ghost", grpc.StatusCode.NOT_FOUND)]
)
def test_get_events_needs_an_existing_session(channel: grpc.Channel, session: str, expected: grpc.StatusCode) -> None:
    request = events_common_pb2.EventSubscriptionRequest(session_id=session)

    assert grpc_code(lambda: next(EventsStub(channel).GetEvents(request))) == expected


class Watch:
    """A WatchResults call fed from a queue, its responses collected by a thread."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._requests: queue.Queue[results_common_pb2.WatchResultRequest | None] = queue.Queue()
        self.responses: list[tuple[int, list[str]]] = []
        self.call = ResultsStub(channel).WatchResults(self._feed())
        self.reader = Background(self._read)

    def _feed(self) -> Iterator[results_common_pb2.WatchResultRequest]:
        while (request := self._requests.get()) is not None:
            yield request

    def _read(self) -> None:
        for response in self.call:
            self.responses.append((response.status, sorted(response.result_ids)))

    def send(self, ids: list[str], fetch: list[ResultStatus], watch: list[ResultStatus]) -> None:
        self._requests.put(
            results_common_pb2.WatchResultRequest(result_ids=ids, fetch_statuses=fetch, watch_statuses=watch)
        )

    def close(self) -> None:
        self._requests.put(None)
        self.call.cancel()
        wait_for(self.reader.done.is_set)


@pytest.fixture
def watch(channel: grpc.Channel) -> Iterator[Watch]:
    opened = Watch(channel)
    yield opened
    opened.close()


def test_watch_results_fetches_current_statuses_then_streams_watched_changes(
    watch: Watch, sessions: ArmoniKSessions, results: ArmoniKResults, session_id: str
) -> None:
    done = results.create_results({"done": b"d"}, session_id)["done"].result_id
    later = results.create_results_metadata(["later", "doomed"], session_id)
    later_id, doomed_id = later["later"].result_id, later["doomed"].result_id

    watch.send(
        [done, later_id, doomed_id],
        fetch=[ResultStatus.CREATED, ResultStatus.COMPLETED],
        watch=[ResultStatus.COMPLETED, ResultStatus.ABORTED],
    )
    wait_for(lambda: len(watch.responses) >= 2)
    assert sorted(watch.responses) == [
        (ResultStatus.CREATED, sorted([later_id, doomed_id])),
        (ResultStatus.COMPLETED, [done]),
    ]

    results.upload_result_data(later_id, session_id, b"l")
    wait_for(lambda: len(watch.responses) >= 3)
    assert watch.responses[2] == (ResultStatus.COMPLETED, [later_id])

    sessions.cancel_session(session_id)
    wait_for(lambda: len(watch.responses) >= 4)
    assert watch.responses[3] == (ResultStatus.ABORTED, [doomed_id])


def test_watching_an_unknown_result_ends_the_stream_with_not_found(watch: Watch) -> None:
    watch.send(["ghost"], fetch=[ResultStatus.CREATED], watch=[])

    wait_for(watch.reader.done.is_set)
    assert isinstance(watch.reader.error, grpc.RpcError)
    assert watch.reader.error.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
