"""``ThreadReader``: an async iterator read as a file from a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pyarmonik.storage.objects import streams


async def chunks(*parts: bytes, error: Exception | None = None) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part
    if error is not None:
        raise error


def read_all(reader: streams.ThreadReader, size: int) -> list[bytes]:
    blocks = []
    while block := reader.read(size):
        blocks.append(block)
    return blocks


async def test_reads_return_whole_blocks_across_chunks_until_the_end() -> None:
    reader = streams.ThreadReader(chunks(b"ab", b"", b"cde", b"f"), asyncio.get_running_loop())
    assert await asyncio.to_thread(read_all, reader, 4) == [b"abcd", b"ef"]
    assert reader.size == 6


async def test_a_failing_iterator_fails_the_read_and_keeps_its_error() -> None:
    error = ConnectionError("gone")
    reader = streams.ThreadReader(chunks(b"ab", error=error), asyncio.get_running_loop())
    with pytest.raises(streams.SourceFailed):
        await asyncio.to_thread(read_all, reader, 1024)
    assert reader.error is error


async def test_after_stop_reads_fail_instead_of_ending_short() -> None:
    reader = streams.ThreadReader(chunks(b"ab", b"cd"), asyncio.get_running_loop())
    assert await asyncio.to_thread(reader.read, 2) == b"ab"
    reader.stop()
    with pytest.raises(streams.SourceFailed):
        await asyncio.to_thread(reader.read, 2)


async def test_stop_interrupts_a_read_waiting_for_data() -> None:
    waiting = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"x"
        waiting.set()
        await asyncio.Event().wait()

    reader = streams.ThreadReader(stalled(), asyncio.get_running_loop())
    pending = asyncio.ensure_future(asyncio.to_thread(reader.read, 2))
    await asyncio.wait_for(waiting.wait(), 5)
    reader.stop()
    with pytest.raises(streams.SourceFailed):
        await asyncio.wait_for(pending, 5)
