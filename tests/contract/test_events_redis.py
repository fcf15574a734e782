"""The Redis event bus against the EventBus contract, plus what only Redis
can show: subscribers of different processes, and the JSON wire format."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Sequence

import pytest
import redis.asyncio

from pyarmonik.core import errors
from pyarmonik.core.models import Event, Result, Task, TaskOptions
from pyarmonik.core.statuses import EventKind, ResultStatus, TaskStatus
from pyarmonik.storage.redis import codec, keys
from pyarmonik.storage.redis.events import RedisEventBus
from tests.helpers import wait_for_async

from .events_contract import WAIT, EventBusContract, Publish, event, receive


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
        """As the state scripts do: PUBLISH each event, in the wire format,
        on its session's channel."""

        async def publish(events: Sequence[Event]) -> None:
            async with redis_client.pipeline(transaction=False) as pipe:
                for e in events:
                    pipe.publish(keys.session_events(e.session_id), codec.encode_event(e))
                await pipe.execute()

        return publish

    async def test_every_field_of_an_event_survives_the_trip(self, event_bus: RedisEventBus, publish: Publish) -> None:
        sent = full_events("s")
        async with event_bus.subscribe("s") as events:
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

    async def test_a_message_published_from_outside_in_the_wire_format_is_received(
        self, event_bus: RedisEventBus, redis_client: redis.asyncio.Redis
    ) -> None:
        # What a Lua script of a state store may write: fields left out,
        # times as decimal strings, cjson's {} for an empty list.
        lua_like = {
            "task": {
                "task_id": "t",
                "session_id": "s",
                "status": int(TaskStatus.PROCESSING),
                "created_at": "1718000000.123456",
                "payload_id": "payload",
                "data_dependencies": {},
                "options": {"priority": 3, "options": []},
                "output_success": 0,
            },
        }
        async with event_bus.subscribe("s") as events:
            await redis_client.publish(keys.session_events("s"), "not json")
            line = f"{int(EventKind.TASK_STATUS_UPDATE)}\t{int(TaskStatus.PROCESSING)}\tt\t\t\t"
            await redis_client.publish(keys.session_events("s"), line + json.dumps(lua_like["task"]))
            [received] = await receive(events, 1)
        assert received.task is not None
        assert received.task.created_at == 1718000000.123456
        assert received.task.status is TaskStatus.PROCESSING and received.task.options.priority == 3
        assert received.task.data_dependencies == [] and received.task.options.options == {}
        assert received.task.started_at is None and received.result is None


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


def full_result(session_id: str = "s") -> Result:
    return Result(
        session_id=session_id,
        result_id="result-1",
        name="name",
        status=ResultStatus.COMPLETED,
        created_at=1718000000.987654,
        owner_task_id="task-1",
        created_by="task-0",
        completed_at=1718000009.000321,
        size=123456789,
        opaque_id=b"\x00\xffkey/\x10",
        manual_deletion=True,
    )


def full_events(session_id: str = "s") -> list[Event]:
    task, result = full_task(session_id), full_result(session_id)
    return [
        Event(kind=EventKind.NEW_TASK, session_id=session_id, task=task),
        Event(kind=EventKind.TASK_STATUS_UPDATE, session_id=session_id, task=task),
        Event(kind=EventKind.NEW_RESULT, session_id=session_id, result=result),
        Event(kind=EventKind.RESULT_STATUS_UPDATE, session_id=session_id, result=result),
        Event(
            kind=EventKind.RESULT_OWNER_UPDATE,
            session_id=session_id,
            result=result,
            previous_owner_id="task-0",
            current_owner_id="task-1",
        ),
        Event(kind=EventKind.UNSPECIFIED, session_id=session_id),
    ]


@pytest.mark.parametrize("sent", full_events(), ids=lambda e: e.kind.name)
def test_the_codec_round_trips_every_event_kind_with_full_snapshots(sent: Event) -> None:
    received = codec.decode_event(codec.encode_event(sent))
    assert received == sent
    assert type(received.kind) is EventKind
    if received.task is not None:
        assert type(received.task.status) is TaskStatus
    if received.result is not None:
        assert type(received.result.status) is ResultStatus


def test_the_codec_keeps_unset_times_as_none_and_defaults_as_defaults() -> None:
    bare_task = Task(
        task_id="t", session_id="s", status=TaskStatus.PENDING, options=TaskOptions(), created_at=0.0, payload_id="p"
    )
    bare_result = Result(session_id="s", result_id="r", name="", status=ResultStatus.CREATED, created_at=0.0)
    for sent in (
        Event(kind=EventKind.NEW_TASK, session_id="s", task=bare_task),
        Event(kind=EventKind.NEW_RESULT, session_id="s", result=bare_result),
    ):
        assert codec.decode_event(codec.encode_event(sent)) == sent


def test_the_codec_writes_every_field_of_the_records() -> None:
    kind, status, task_id, previous, current, body = codec.encode_event(full_events()[0]).split("\t")
    assert (kind, status, task_id, previous, current) == ("1", str(int(TaskStatus.RETRIED)), "task-1", "", "")
    wire = json.loads(body)
    assert set(wire) == {f.name for f in dataclasses.fields(Task)}
    assert set(wire["options"]) == {f.name for f in dataclasses.fields(TaskOptions)}
    *_, previous, current, body = codec.encode_event(full_events()[4]).split("\t")
    assert (previous, current) == ("task-0", "task-1")
    wire = json.loads(body)
    assert set(wire) == {f.name for f in dataclasses.fields(Result)}
    assert wire["opaque_id"] == b"\x00\xffkey/\x10".hex()


def test_one_message_carries_several_events_and_a_subscriber_skips_unwanted_kinds_unread() -> None:
    events = full_events()[:5]
    message = codec.encode_events(events)
    assert codec.decode_events(message, "s") == events
    wanted = {EventKind.RESULT_STATUS_UPDATE}
    assert codec.decode_events(message, "s", kinds=wanted) == [events[3]]
    # A line whose JSON is broken is never read when its kind is not wanted.
    broken = message.replace('{"task_id"', '{"task_id', 1)
    assert codec.decode_events(broken, "s", kinds=wanted) == [events[3]]


def test_a_light_subscriber_reads_ids_and_statuses_of_updates_without_their_records() -> None:
    events = full_events()[:5]
    message = codec.encode_events(events).replace('"name"', '"name')  # no result JSON is readable
    status_update, owner_update = codec.decode_events(message, "s", kinds={EventKind.RESULT_STATUS_UPDATE,
                                                      EventKind.RESULT_OWNER_UPDATE}, light=True)  # fmt: skip
    assert status_update.result is not None and owner_update.result is not None
    assert (status_update.result.result_id, status_update.result.status) == ("result-1", ResultStatus.COMPLETED)
    assert (owner_update.previous_owner_id, owner_update.current_owner_id) == ("task-0", "task-1")


def test_the_codec_refuses_what_is_not_an_event() -> None:
    for data in ("[]", '{"kind": 1}', "nope"):
        with pytest.raises(ValueError):
            codec.decode_event(data)
