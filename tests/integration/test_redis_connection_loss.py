"""The Redis adapters when a connection drops: what the fault campaign
(tests/faults) found on a real deployment, reproduced one case at a time.

- A function whose reply is lost (Redis killed after it ran, before it
  answered) is sent again by redis-py's retry: it must answer as the first
  run did, not run twice (a claim by its token, a finish by finding its
  outcome written, the control plane's calls by their request id). A proxy
  between client and Redis drops one reply.
- A command sent while Redis restarts (a few seconds down) waits it out.
- A claim blocked waiting for a push longer than redis-py's default read
  timeout (5 s since redis-py 8) is not cut short as a broken connection.
- An event subscription whose connection breaks must end, even though
  redis-py reconnects and subscribes again by itself: the events published
  in between are lost and only a new subscription (with its replay) makes
  up for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from pyarmonik.agent.pollster import AgentConfig
from pyarmonik.core import errors
from pyarmonik.core.models import Event
from pyarmonik.core.statuses import EventKind, TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis import codec, connection, keys
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.events import RedisEventBus
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore
from tests import servers
from tests.contract.state_contract import AGENT, AT, claimed_ids, held, open_session, task

pytestmark = pytest.mark.integration
WAIT = 10.0
RESTART_DOWN = 4.0  # seconds Redis stays down: longer than the retries used to last


class ReplyDropper:
    """A TCP proxy to Redis that, once armed with a marker, lets the next
    command containing it through and closes the connection instead of
    passing Redis's answer back."""

    def __init__(self, port: int) -> None:
        self._redis_port = port
        self._marker: bytes | None = None
        self.dropped = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    def arm(self, marker: str) -> None:
        self._marker = marker.encode()

    async def close(self) -> None:
        """After the client closed: waits for its connections to wind down."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._connections:
            await asyncio.wait(self._connections, timeout=WAIT)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        current = asyncio.current_task()
        assert current is not None
        self._connections.add(current)
        current.add_done_callback(self._connections.discard)
        redis_reader, redis_writer = await asyncio.open_connection("127.0.0.1", self._redis_port)
        doomed = asyncio.Event()  # the command carrying the marker went through
        try:
            await asyncio.gather(
                self._requests(client_reader, redis_writer, doomed), self._replies(redis_reader, client_writer, doomed)
            )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (client_writer, redis_writer):
                writer.close()

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, doomed: asyncio.Event
    ) -> None:
        while data := await reader.read(65536):
            if self._marker is not None and self._marker in data:
                self._marker = None
                doomed.set()
            writer.write(data)
            await writer.drain()
        writer.close()

    async def _replies(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, doomed: asyncio.Event) -> None:
        while data := await reader.read(65536):
            if doomed.is_set():
                self.dropped += 1
                raise ConnectionResetError("reply dropped on purpose")
            writer.write(data)
            await writer.drain()
        writer.close()


@pytest.fixture
def redis_process(tmp_path: pathlib.Path) -> Iterator[servers.RedisServer]:
    """A Redis of this test alone, appending every write (restartable)."""
    try:
        server = servers.start_redis(tmp_path / "redis", aof=True)
    except servers.ServerUnavailable as exc:
        servers.skip_or_fail(f"no Redis server: {exc}")
    try:
        yield server
    finally:
        servers.stop_redis(server)


@pytest.fixture
async def dropper(redis_process: servers.RedisServer) -> AsyncIterator[tuple[ReplyDropper, connection.Redis]]:
    proxy = ReplyDropper(redis_process.port)
    client = await connection.connect_redis(await proxy.start())
    try:
        yield proxy, client
    finally:
        await client.aclose()
        await proxy.close()


async def _warm(store: RedisStateStore, dispatch: RedisDispatch) -> None:
    """A session "s" with a task claimed and committed: the library loaded,
    the connections open."""
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("warm-up")], at=AT)
    warm = await held(dispatch, "warm-up")
    await dispatch.commit(warm.task, warm.lease, agent_id=AGENT, commit=ports.TaskCommit(), at=AT)


async def test_a_claim_whose_reply_is_lost_still_hands_over_the_tasks_it_took_and_no_more(dropper) -> None:  # type: ignore[no-untyped-def]
    proxy, client = dropper
    store, dispatch, queue = RedisStateStore(client), RedisDispatch(client), RedisTaskQueue(client)
    await _warm(store, dispatch)
    await store.create_tasks("s", [task("first"), task("second")], at=AT)
    proxy.arm("host-of-a-lost-reply")  # only in the claim's arguments
    found = await dispatch.claim(
        "p", agent_id=AGENT, hostname="host-of-a-lost-reply", lease_seconds=60, count=1, start_first=True, timeout=0
    )
    assert proxy.dropped == 1
    assert [(c.admission, c.task_id) for c in found] == [(ports.Admission.RUN, "first")]
    assert [t.status for t in await store.get_tasks(["first", "second"])] == [
        TaskStatus.PROCESSING,
        TaskStatus.SUBMITTED,
    ]
    assert (await queue.depth("p"), await queue.leased("p")) == (1, 1)


async def test_a_commit_whose_reply_is_lost_still_hands_over_the_next_task_it_claimed(dropper) -> None:  # type: ignore[no-untyped-def]
    proxy, client = dropper
    store, dispatch, queue = RedisStateStore(client), RedisDispatch(client), RedisTaskQueue(client)
    await _warm(store, dispatch)
    await store.create_tasks("s", [task("t", outputs=["out"]), task("next", dependencies=["out"])], at=AT)
    running = await held(dispatch, "t")
    following = ports.NextClaim("p", AGENT, "next-host-of-a-lost-reply", 60.0)
    commit = ports.TaskCommit(completions=[ports.Completion("out", 1, b"key")])
    proxy.arm("next-host-of-a-lost-reply")
    await dispatch.commit(running.task, running.lease, agent_id=AGENT, commit=commit, at=AT, next_claim=following)
    assert proxy.dropped == 1
    assert [(c.admission, c.task_id) for c in following.claims] == [(ports.Admission.RUN, "next")]
    assert [t.status for t in await store.get_tasks(["t", "next"])] == [TaskStatus.COMPLETED, TaskStatus.PROCESSING]
    assert (await queue.depth("p"), await queue.leased("p")) == (0, 1)


async def test_a_retry_whose_reply_is_lost_still_returns_the_next_attempt_created_once(dropper) -> None:  # type: ignore[no-untyped-def]
    proxy, client = dropper
    store, dispatch, queue = RedisStateStore(client), RedisDispatch(client), RedisTaskQueue(client)
    await _warm(store, dispatch)
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    running = await held(dispatch, "t")
    proxy.arm("crash-of-a-lost-reply")
    retry = await dispatch.retry(running.task, running.lease, agent_id=AGENT, message="crash-of-a-lost-reply", at=AT)
    assert proxy.dropped == 1
    assert (retry.task_id, retry.status) == ("t###1", TaskStatus.SUBMITTED)
    assert (await queue.depth("p"), await queue.leased("p")) == (1, 0)


async def test_a_submission_whose_reply_is_lost_creates_and_queues_its_tasks_once(dropper) -> None:  # type: ignore[no-untyped-def]
    proxy, client = dropper
    store, dispatch, queue = RedisStateStore(client), RedisDispatch(client), RedisTaskQueue(client)
    await _warm(store, dispatch)
    proxy.arm("task-of-a-lost-reply")
    created = await store.create_tasks("s", [task("task-of-a-lost-reply"), task("other")], at=AT)
    assert proxy.dropped == 1
    assert [t.status for t in created] == [TaskStatus.SUBMITTED] * 2
    assert await queue.depth("p") == 2
    assert await claimed_ids(dispatch, 3) == ["task-of-a-lost-reply", "other"]


async def test_a_completion_whose_reply_is_lost_queues_what_it_made_ready_once(dropper) -> None:  # type: ignore[no-untyped-def]
    proxy, client = dropper
    store, dispatch, queue = RedisStateStore(client), RedisDispatch(client), RedisTaskQueue(client)
    await _warm(store, dispatch)
    await store.create_tasks("s", [task("waits", dependencies=["out"])], at=AT)
    proxy.arm("object-of-a-lost-reply")
    made_ready = await store.complete_results(
        "s", [ports.Completion("out", 1, b"object-of-a-lost-reply")], completed_by="s", at=AT
    )
    assert proxy.dropped == 1
    assert made_ready == 1
    assert await queue.depth("p") == 1
    assert await claimed_ids(dispatch, 2) == ["waits"]


async def test_a_reap_whose_reply_is_lost_still_hands_over_the_expired_leases(dropper) -> None:  # type: ignore[no-untyped-def]
    proxy, client = dropper
    store, dispatch = RedisStateStore(client), RedisDispatch(client, clock=lambda: AT)
    queue = RedisTaskQueue(client, clock=lambda: AT)
    await _warm(store, dispatch)
    await store.create_tasks("s", [task("lost")], at=AT)
    await held(dispatch, "lost", "lost-agent")
    assert await queue.reap_expired(now=AT) == []  # not expired yet
    proxy.arm(repr(AT + 120))  # only in the reap's arguments
    reaped = await queue.reap_expired(now=AT + 120)
    assert proxy.dropped == 1
    assert [lease.item.task_id for lease in reaped] == ["lost"]


async def test_an_event_subscription_cut_by_a_redis_restart_ends_instead_of_missing_events(
    redis_process: servers.RedisServer, tmp_path: pathlib.Path
) -> None:
    client = await connection.connect_redis(redis_process.url)
    restarted: servers.RedisServer | None = None
    try:
        async with RedisEventBus(client).subscribe("s") as events:
            servers.stop_redis(redis_process)
            restarted = servers.start_redis(redis_process.directory, aof=True, port=redis_process.port)
            missed = Event(EventKind.RESULT_OWNER_UPDATE, "s", previous_owner_id="", current_owner_id="t")
            with contextlib.suppress(Exception):  # published while the subscriber reconnects: lost to it
                await client.publish(keys.session_events("s"), codec.encode_event(missed))
            with pytest.raises(errors.Unavailable):
                await asyncio.wait_for(anext(events), WAIT)
    finally:
        await client.aclose()
        if restarted is not None:
            servers.stop_redis(restarted)


LONG_WAIT = 6.0  # seconds: more than redis-py 8's default read timeout (5 s)


async def test_a_claim_waiting_longer_than_redis_pys_default_read_timeout_ends_empty_at_its_timeout(
    redis_process: servers.RedisServer,
) -> None:
    client = await connection.connect_redis(redis_process.url)
    try:
        dispatch = RedisDispatch(client)
        waiting = dispatch.claim(
            "idle", agent_id=AGENT, hostname="h", lease_seconds=60, count=1, start_first=True, timeout=LONG_WAIT
        )
        # Cut at 5 s, the wait was sent again (and again) until the retries ran out, then raised TimeoutError.
        assert await asyncio.wait_for(waiting, LONG_WAIT + WAIT) == []
    finally:
        await client.aclose()


async def test_more_concurrent_calls_than_redis_pys_default_pool_all_get_a_connection(
    redis_process: servers.RedisServer,
) -> None:
    # redis-py's asyncio pool stops at 100 connections and fails the next
    # command "Too many connections": the 101st concurrent call of a control
    # plane, or a commit of an agent among 250 in one process, failed as if
    # Redis were down.
    client = await connection.connect_redis(redis_process.url)
    try:
        dispatch = RedisDispatch(client)
        waits = [
            dispatch.claim(
                "idle", agent_id=f"a{i}", hostname="h", lease_seconds=60, count=1, start_first=True, timeout=1
            )
            for i in range(150)
        ]
        assert await asyncio.gather(*waits) == [[]] * 150
    finally:
        await client.aclose()


def test_an_idle_agents_wait_for_a_push_is_shorter_than_the_clients_read_timeout(tmp_path: pathlib.Path) -> None:
    assert AgentConfig("default", tmp_path).pop_timeout < connection.SOCKET_TIMEOUT


async def test_a_call_made_while_redis_restarts_waits_the_restart_out(redis_process: servers.RedisServer) -> None:
    client = await connection.connect_redis(redis_process.url)
    store = RedisStateStore(client)
    await open_session(store)
    servers.stop_redis(redis_process)
    restart = threading.Timer(
        RESTART_DOWN,
        lambda: restarted.append(servers.start_redis(redis_process.directory, aof=True, port=redis_process.port)),
    )
    restarted: list[servers.RedisServer] = []
    restart.start()
    try:
        assert (await store.get_session("s")).session_id == "s"  # sent while Redis is down
    finally:
        restart.join()
        await client.aclose()
        for server in restarted:
            servers.stop_redis(server)
