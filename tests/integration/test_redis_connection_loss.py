"""The Redis adapters when a connection drops: what the fault campaign
(tests/faults) found on a real deployment, reproduced one case at a time.

- A script whose reply is lost (Redis killed after it ran, before it
  answered) is sent again by redis-py's retry: it must answer as the first
  run did, not run twice. A proxy between client and Redis drops one reply.
- A command sent while Redis restarts (a few seconds down) waits it out.
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

from pyarmonik.core import errors
from pyarmonik.core.models import Event
from pyarmonik.core.statuses import EventKind, TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis import codec, connection, keys
from pyarmonik.storage.redis.events import RedisEventBus
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore
from tests import servers
from tests.contract.state_contract import AT, open_session, task

pytestmark = pytest.mark.integration
WAIT = 10.0
RESTART_DOWN = 4.0  # seconds Redis stays down: longer than the retries used to last


class ReplyDropper:
    """A TCP proxy to Redis that, once armed with a marker, lets the next
    command containing it through and closes the connection instead of
    passing Redis's answer back (a NOSCRIPT answer is passed, so that
    redis-py loads the script and sends it again)."""

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
            if doomed.is_set() and not data.startswith(b"-NOSCRIPT"):
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


async def test_an_acquisition_whose_reply_is_lost_still_hands_the_task_over(dropper) -> None:  # type: ignore[no-untyped-def]
    proxy, client = dropper
    store = RedisStateStore(client)
    await open_session(store)
    await store.create_tasks("s", [task("warm-up"), task("t")], at=AT)
    assert await store.acquire_task("warm-up", agent_id="agent", hostname="h", at=AT)  # scripts loaded
    proxy.arm("host-of-a-lost-reply")  # only in the script's arguments
    acquired = await store.acquire_task("t", agent_id="agent", hostname="host-of-a-lost-reply", at=AT)
    assert proxy.dropped == 1
    assert acquired is not None and acquired.status is TaskStatus.DISPATCHED and acquired.owner_pod_id == "agent"


async def test_a_pop_whose_reply_is_lost_loses_no_item(dropper) -> None:  # type: ignore[no-untyped-def]
    proxy, client = dropper
    queue = RedisTaskQueue(client)
    await queue.push("p", [ports.QueuedTask(name, "s", 1) for name in ("warm-up", "first", "second")])
    assert await queue.pop("p", agent_id="agent", lease_seconds=60, timeout=0)  # scripts loaded
    proxy.arm("agent-of-a-lost-reply")
    lease = await queue.pop("p", agent_id="agent-of-a-lost-reply", lease_seconds=60, timeout=0)
    assert proxy.dropped == 1
    assert lease is not None and lease.item.task_id == "first"
    assert (await queue.depth("p"), await queue.leased("p")) == (1, 2)


async def test_a_reap_whose_reply_is_lost_still_hands_over_the_expired_leases(dropper) -> None:  # type: ignore[no-untyped-def]
    proxy, client = dropper
    queue = RedisTaskQueue(client, clock=lambda: AT)
    await queue.push("p", [ports.QueuedTask(name, "s", 1) for name in ("warm-up", "lost")])
    for agent_id in ("agent", "lost-agent"):
        assert await queue.pop("p", agent_id=agent_id, lease_seconds=1, timeout=0)
    assert len(await queue.reap_expired(now=AT)) == 0  # scripts loaded
    proxy.arm(repr(AT + 2))  # only in the reap's arguments
    reaped = await queue.reap_expired(now=AT + 2)
    assert proxy.dropped == 1
    assert sorted(lease.item.task_id for lease in reaped) == ["lost", "warm-up"]


async def test_a_commit_whose_reply_is_lost_still_returns_the_tasks_it_made_ready(dropper) -> None:  # type: ignore[no-untyped-def]
    proxy, client = dropper
    store = RedisStateStore(client)
    await open_session(store, created=["out"])
    await store.create_tasks(
        "s", [task("warm-up"), task("t", outputs=["out"]), task("next", dependencies=["out"])], at=AT
    )
    for name in ("warm-up", "t"):
        await store.acquire_task(name, agent_id="agent", hostname="h", at=AT)
        await store.start_task(name, agent_id="agent", at=AT)
    await store.commit_task("warm-up", agent_id="agent", commit=ports.TaskCommit(), at=AT)  # scripts loaded
    proxy.arm(b"lost-reply".hex())  # the completion's opaque id, as the script gets it
    commit = ports.TaskCommit(completions=[ports.Completion("out", 1, b"lost-reply")])
    ready = await store.commit_task("t", agent_id="agent", commit=commit, at=AT)
    assert proxy.dropped == 1
    assert [t.task_id for t in ready] == ["next"]


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
