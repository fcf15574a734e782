"""The Redis event bus against the EventBus contract, plus what only Redis
can show: subscribers of different processes, the line format the Lua
functions and the codec share, and the records a subscription that is not
``light`` gets from the store (an update on the wire carries ids and a
status only)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence

import pytest
import redis.asyncio

from pyarmonik.core import errors
from pyarmonik.core.models import Event, Result, Task, TaskOptions
from pyarmonik.core.statuses import EventKind, ResultStatus, TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis import codec, keys
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.events import RedisEventBus
from pyarmonik.storage.redis.state import RedisStateStore
from tests.helpers import wait_for_async

from .events_contract import WAIT, EventBusContract, Publish, event, nothing_more, receive
from .state_contract import AGENT, AT, HOST, LATER, held, open_session, task


async def channel_subscribers(client: redis.asyncio.Redis, session_id: str) -> int:
    [(_, count)] = await client.pubsub_numsub(keys.session_events(session_id))
    return int(count)


async def subscribers_become(client: redis.asyncio.Redis, session_id: str, expected: int) -> None:
    """Waits for Redis to count ``expected`` subscribers: a dropped
    connection is noticed by the server a moment after the client closes it."""

    async def counted() -> bool:
        return await channel_subscribers(client, session_id) == expected

    await wait_for_async(counted, WAIT)


@pytest.mark.integration
class TestRedisEventBus(EventBusContract):
    @pytest.fixture
    def event_bus(self, redis_client: redis.asyncio.Redis) -> RedisEventBus:
        return RedisEventBus(redis_client)

    @pytest.fixture
    def publish(self, redis_client: redis.asyncio.Redis) -> Publish:
        """As the state's functions do: PUBLISH each event, in the line
        format, on its session's channel."""

        async def publish(events: Sequence[Event]) -> None:
            async with redis_client.pipeline(transaction=False) as pipe:
                for e in events:
                    pipe.publish(keys.session_events(e.session_id), codec.encode_event(e))
                await pipe.execute()

        return publish

    async def test_what_each_kind_of_event_carries_survives_the_trip(
        self, event_bus: RedisEventBus, publish: Publish
    ) -> None:
        sent = carried_events("s")
        async with event_bus.subscribe("s", light=True) as events:
            await publish(sent)
            assert await receive(events, len(sent)) == sent

    async def test_subscribers_of_two_replicas_both_see_an_event(
        self, event_bus: RedisEventBus, publish: Publish, redis_server: str
    ) -> None:
        client = redis.asyncio.Redis.from_url(redis_server)  # another process's connection
        try:
            async with event_bus.subscribe("s") as here, RedisEventBus(client).subscribe("s") as there:
                await publish([event("s", "1")])
                assert [e.current_owner_id for e in await receive(here, 1)] == ["1"]
                assert [e.current_owner_id for e in await receive(there, 1)] == ["1"]
        finally:
            await client.aclose()

    async def test_entering_subscribes_and_exiting_unsubscribes(
        self, event_bus: RedisEventBus, redis_client: redis.asyncio.Redis
    ) -> None:
        """The subscriptions of one bus share Redis' subscription of their
        channel: one subscriber in Redis, until the last of them exits."""
        async with event_bus.subscribe("s"):
            assert await channel_subscribers(redis_client, "s") == 1
            async with event_bus.subscribe("s"):
                assert await channel_subscribers(redis_client, "s") == 1
            assert await channel_subscribers(redis_client, "s") == 1
        await subscribers_become(redis_client, "s", 0)
        assert event_bus.subscribed_sessions == 0

    async def test_any_number_of_subscriptions_holds_one_connection(self, redis_server: str) -> None:
        """Each subscription took a pooled connection: a burst of event
        streams exhausted the pool every other call of the process needs."""
        client = redis.asyncio.Redis.from_url(redis_server, max_connections=4)
        bus = RedisEventBus(client)
        try:
            async with contextlib.AsyncExitStack() as stack:
                for i in range(300):
                    await stack.enter_async_context(bus.subscribe(f"s{i % 30}"))
                assert await client.ping()  # the pool still serves the other calls
                assert bus.subscribed_sessions == 30
            assert bus.subscribed_sessions == 0
        finally:
            await bus.close()
            await client.aclose()

    async def test_a_subscription_on_a_closed_bus_fails_and_open_ones_end_unavailable(
        self, event_bus: RedisEventBus
    ) -> None:
        async with event_bus.subscribe("s") as events:
            await event_bus.close()
            with pytest.raises(errors.Unavailable):
                await receive(events, 1)
        with pytest.raises(errors.Unavailable):
            async with event_bus.subscribe("s"):
                pass

    async def test_exiting_on_an_error_still_unsubscribes(
        self, event_bus: RedisEventBus, redis_client: redis.asyncio.Redis
    ) -> None:
        with pytest.raises(RuntimeError):
            async with event_bus.subscribe("s"):
                raise RuntimeError("boom")
        await subscribers_become(redis_client, "s", 0)

    async def test_a_message_that_is_not_an_event_is_skipped(
        self, event_bus: RedisEventBus, redis_client: redis.asyncio.Redis
    ) -> None:
        async with event_bus.subscribe("s") as events:
            await redis_client.publish(keys.session_events("s"), "not an event")
            line = f"{int(EventKind.TASK_STATUS_UPDATE)}\t{int(TaskStatus.PROCESSING)}\tt\t\t\t"
            await redis_client.publish(keys.session_events("s"), line)
            [received] = await receive(events, 1)
        assert received.task is not None and (received.task.task_id, received.task.status) == (
            "t",
            TaskStatus.PROCESSING,
        )

    async def test_a_subscription_to_some_kinds_gets_those_only(
        self, event_bus: RedisEventBus, publish: Publish
    ) -> None:
        sent = carried_events("s")
        async with event_bus.subscribe(
            "s", kinds={EventKind.NEW_RESULT, EventKind.TASK_STATUS_UPDATE}, light=True
        ) as events:
            await publish(sent)
            assert [e.kind for e in await receive(events, 2)] == [EventKind.TASK_STATUS_UPDATE, EventKind.NEW_RESULT]
            assert await nothing_more(events)


# -- what the functions publish, as subscribers read it ------------------------------
@pytest.fixture
def store(redis_client: redis.asyncio.Redis) -> RedisStateStore:
    return RedisStateStore(redis_client)


@pytest.mark.integration
async def test_the_functions_publish_the_very_lines_the_codec_writes(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    await open_session(store, created=["out"], completed=["dep"])
    created = task("t", dependencies=["dep"], outputs=["out"])
    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(keys.session_events("s"))
        await pubsub.get_message(timeout=WAIT)  # the subscribe confirmation
        await store.create_tasks("s", [created], at=AT)
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=WAIT)
    assert message is not None
    as_created = dataclasses.replace(created, status=TaskStatus.SUBMITTED)
    expected = [
        Event(EventKind.NEW_TASK, "s", task=as_created),
        Event(EventKind.RESULT_OWNER_UPDATE, "s", result=_result("out"), previous_owner_id="", current_owner_id="t"),
    ]
    assert sorted(message["data"].decode().split("\n")) == sorted(codec.encode_events(expected).split("\n"))


def _result(result_id: str) -> Result:
    return Result("s", result_id, "", ResultStatus.CREATED, 0.0, owner_task_id="t")


@pytest.mark.integration
async def test_a_subscription_that_is_not_light_gets_the_records_of_updates_from_the_store_with_the_events_status(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    async with RedisEventBus(redis_client).subscribe("s") as events:
        running = await held(RedisDispatch(redis_client, clock=lambda: LATER), "t")
        dispatched, started = await receive(events, 2)
        await store.complete_results("s", [ports.Completion("out", 5, b"key-out")], completed_by="t", at=LATER)
        [completed] = await receive(events, 1)
    assert dispatched.task is not None and started.task is not None
    # The claim moved it on to PROCESSING: each event keeps the status it reported.
    assert (dispatched.task.status, started.task.status) == (TaskStatus.DISPATCHED, TaskStatus.PROCESSING)
    for update in (dispatched.task, started.task):
        assert (update.owner_pod_id, update.pod_hostname, update.acquired_at, update.options) == (
            AGENT,
            HOST,
            LATER,
            running.task.options,
        )
    assert completed.result is not None
    assert (
        completed.result.status,
        completed.result.size,
        completed.result.opaque_id,
        completed.result.completed_at,
    ) == (
        ResultStatus.COMPLETED,
        5,
        b"key-out",
        LATER,
    )
    assert (completed.result.name, completed.result.created_at) == ("name-out", 1_000.0)


@pytest.mark.integration
async def test_a_light_subscription_gets_updates_as_the_wire_carries_them(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    async with RedisEventBus(redis_client).subscribe("s", light=True) as events:
        await store.complete_results("s", [ports.Completion("out", 5, b"key-out")], completed_by="t", at=LATER)
        [completed] = await receive(events, 1)
    assert completed.result == Result("s", "out", "", ResultStatus.COMPLETED, 0.0)


# -- codec ----------------------------------------------------------------------
def full_task(session_id: str = "s") -> Task:
    """A task with every field set to a value other than its default."""
    return Task(
        task_id="task-1",
        session_id=session_id,
        status=TaskStatus.RETRIED,
        options=TaskOptions(
            max_duration=12.5,
            max_retries=3,
            priority=7,
            partition_id="gpu",
            application_name="app",
            application_version="1.2",
            application_namespace="ns",
            application_service="svc",
            engine_type="engine",
            options={"key": "value", "é": "ü"},
        ),
        created_at=1718000000.123456,
        payload_id="payload",
        data_dependencies=["d1", "d2"],
        expected_output_ids=["o1"],
        parent_task_ids=["parent"],
        retry_of_ids=["task-0"],
        initial_task_id="task-0",
        created_by="creator",
        status_message="crashed",
        owner_pod_id="agent-1",
        pod_hostname="host",
        submitted_at=1718000001.000001,
        received_at=1718000002.5,
        acquired_at=1718000003.25,
        fetched_at=1718000004.125,
        started_at=1718000005.0625,
        processed_at=1718000006.03125,
        ended_at=1718000007.015625,
        pod_ttl=1718000008.0,
        output_success=True,
        output_error="boom",
    )


#: What a task is when it is created: what a NEW_TASK event carries of it.
AS_CREATED = (
    *("task_id", "session_id", "status", "options", "created_at", "payload_id", "data_dependencies"),
    *("expected_output_ids", "parent_task_ids", "retry_of_ids", "initial_task_id", "created_by", "pod_ttl"),
)


def as_created(full: Task) -> Task:
    return Task(**{name: getattr(full, name) for name in AS_CREATED})


def carried_events(session_id: str = "s") -> list[Event]:
    """One event of each kind, holding exactly what the line format carries."""
    full = full_task(session_id)
    bare = Task(full.task_id, session_id, TaskStatus.PROCESSING, TaskOptions(), created_at=0.0, payload_id="")
    new = Result(session_id, "result-1", "name", ResultStatus.CREATED, 0.0, owner_task_id="task-1")
    update = Result(session_id, "result-1", "", ResultStatus.COMPLETED, 0.0)
    owned = Result(session_id, "result-1", "", ResultStatus.CREATED, 0.0, owner_task_id="task-1")
    return [
        Event(kind=EventKind.NEW_TASK, session_id=session_id, task=as_created(full)),
        Event(kind=EventKind.TASK_STATUS_UPDATE, session_id=session_id, task=bare),
        Event(kind=EventKind.NEW_RESULT, session_id=session_id, result=new),
        Event(kind=EventKind.RESULT_STATUS_UPDATE, session_id=session_id, result=update),
        Event(
            kind=EventKind.RESULT_OWNER_UPDATE,
            session_id=session_id,
            result=owned,
            previous_owner_id="task-0",
            current_owner_id="task-1",
        ),
        Event(kind=EventKind.UNSPECIFIED, session_id=session_id),
    ]


@pytest.mark.parametrize("sent", carried_events(), ids=lambda e: e.kind.name)
def test_the_codec_round_trips_what_each_kind_of_event_carries(sent: Event) -> None:
    received = codec.decode_event(codec.encode_event(sent), "s")
    assert received == sent
    assert type(received.kind) is EventKind


def test_a_new_task_event_carries_the_task_as_created_and_an_update_its_id_and_status_only() -> None:
    full = full_task()
    new = codec.decode_event(codec.encode_event(Event(EventKind.NEW_TASK, "s", task=full)), "s")
    assert new.task == as_created(full)
    update = codec.decode_event(codec.encode_event(Event(EventKind.TASK_STATUS_UPDATE, "s", task=full)), "s")
    assert update.task == codec.skeleton_task("task-1", "s", TaskStatus.RETRIED)
    assert codec.encode_event(Event(EventKind.TASK_STATUS_UPDATE, "s", task=full)) == "2\t11\ttask-1\t\t\t"


def test_the_codec_keeps_unset_fields_as_their_defaults() -> None:
    bare_task = Task(
        task_id="t", session_id="s", status=TaskStatus.PENDING, options=TaskOptions(), created_at=0.0, payload_id="p"
    )
    bare_result = Result(session_id="s", result_id="r", name="", status=ResultStatus.CREATED, created_at=0.0)
    for sent in (
        Event(kind=EventKind.NEW_TASK, session_id="s", task=bare_task),
        Event(kind=EventKind.NEW_RESULT, session_id="s", result=bare_result),
    ):
        assert codec.decode_event(codec.encode_event(sent), "s") == sent


def test_one_message_carries_several_events_and_a_subscriber_skips_unwanted_kinds_unread() -> None:
    events = carried_events()[:5]
    message = codec.encode_events(events)
    assert codec.decode_events(message, "s") == events
    wanted = {EventKind.RESULT_STATUS_UPDATE}
    assert codec.decode_events(message, "s", kinds=wanted) == [events[3]]
    # A new task whose spec is broken is never parsed when its kind is not wanted.
    broken = message.replace('{"options"', '{"options', 1)
    assert codec.decode_events(broken, "s", kinds=wanted) == [events[3]]
    with pytest.raises(ValueError):
        codec.decode_events(broken, "s")


def test_the_codec_refuses_what_is_not_an_event() -> None:
    for data in ("[]", "1\t2\tt", "nope", "x\t1\tt\t\t\t"):
        with pytest.raises(ValueError):
            codec.decode_event(data, "s")


def test_an_event_field_holding_a_tab_or_a_newline_is_refused_when_encoded() -> None:
    for name in ("with\ttab", "with\nnewline"):
        result = Result("s", "r", name, ResultStatus.CREATED, 0.0, owner_task_id="t")
        if "\t" in name:
            result = dataclasses.replace(result, name="", owner_task_id=name)
        with pytest.raises(ValueError, match="tab or a newline"):
            codec.encode_event(Event(EventKind.NEW_RESULT, "s", result=result))


@pytest.mark.parametrize("line", ["99\t1\tt\t\t\t", "2\t99\tt\t\t\t"], ids=["unknown kind", "unknown status"])
def test_a_line_of_an_unknown_kind_or_status_is_not_an_event(line: str) -> None:
    with pytest.raises(ValueError):
        codec.decode_event(line, "s")
