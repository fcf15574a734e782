"""Results: metadata, data upload/download/import/deletion.

Data is always written to the object store before the metadata says
COMPLETED, so a result is never COMPLETED without data; tasks released by a
completion are queued right after.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass

from pyarmonik.core import errors, filters, ids, limits
from pyarmonik.core.models import Result, Session
from pyarmonik.core.statuses import ResultStatus, SessionStatus
from pyarmonik.lifecycle import object_keys
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage import ports

_ENDED = frozenset({SessionStatus.CANCELLED, SessionStatus.PURGED, SessionStatus.DELETED})


@dataclass(frozen=True, slots=True)
class NewResult:
    name: str
    manual_deletion: bool = False
    data: bytes | None = None


async def _open_session(grid: Grid, session_id: str) -> Session:
    session = await grid.state.get_session(session_id)
    if session.status in _ENDED:
        raise errors.FailedPrecondition(f"session {session_id} is {session.status.name}")
    return session


async def create(grid: Grid, session_id: str, new: Sequence[NewResult], *, created_by: str = "") -> list[Result]:
    """Creates results; those given data are stored and COMPLETED at once."""
    limits.check_count(grid.limits.results_per_request, len(new), what="results in one request")
    limits.check_ids(grid.limits.id_length, [item.name for item in new], what="result name")
    for item in new:
        if item.data is not None:
            limits.check_size(grid.limits.result_data_size, len(item.data), what=f"the data of result {item.name!r}")
    await _open_session(grid, session_id)
    at = grid.clock()
    results, stored, small = [], [], {}
    for item in new:
        result = Result(
            session_id=session_id,
            result_id=ids.new_id(),
            name=item.name,
            status=ResultStatus.CREATED,
            created_at=at,
            created_by=created_by,
            manual_deletion=item.manual_deletion,
        )
        if item.data is not None:
            key = object_keys.new_key(result.result_id)
            if len(item.data) <= grid.inline_limit:
                small[result.result_id] = item.data  # kept with the record
            else:
                stored.append((key, item.data))
            result.size = len(item.data)
            result.opaque_id = key.encode()
            result.status = ResultStatus.COMPLETED
            result.completed_at = at
            result.owner_task_id = created_by or session_id
        results.append(result)
    await grid.objects.put_all(stored)  # before the metadata: never COMPLETED without data
    await grid.state.create_results(results, data=small)
    return results


async def upload(grid: Grid, session_id: str, result_id: str, chunks: AsyncIterable[bytes]) -> Result:
    await _open_session(grid, session_id)
    [result] = await grid.state.get_results([result_id], session_id=session_id)
    if result.status is not ResultStatus.CREATED:
        raise errors.FailedPrecondition(f"result {result_id} is {result.status.name}, not waiting for data")
    key = object_keys.new_key(result_id)
    bounded = limits.bounded(grid.limits.result_data_size, chunks, what=f"the data of result {result_id}")
    small, size = await _store(grid, key, bounded)
    completion = ports.Completion(result_id, size, key.encode(), small)
    try:
        await complete(grid, session_id, [completion], completed_by="")
    except errors.PyArmoniKError:
        if small is None:
            await grid.objects.delete([key])
        raise
    [result] = await grid.state.get_results([result_id])
    return result


async def _store(grid: Grid, key: str, chunks: AsyncIterable[bytes]) -> tuple[bytes | None, int]:
    """Small data (up to ``Grid.inline_limit``) is returned, to be kept with
    its record; larger data is streamed to the object store under ``key``.
    Returns (the small data or ``None``, the size)."""
    iterator = aiter(chunks)
    head = bytearray()
    async for chunk in iterator:
        head.extend(chunk)
        if len(head) > grid.inline_limit:
            return None, await grid.objects.put(key, _prefixed(bytes(head), iterator))
    return bytes(head), len(head)


async def _prefixed(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield head
    async for chunk in rest:
        yield chunk


async def complete(grid: Grid, session_id: str, completions: Sequence[ports.Completion], *, completed_by: str) -> None:
    """The results COMPLETED; the tasks waiting on nothing else are queued in the same step."""
    await grid.state.complete_results(session_id, completions, completed_by=completed_by, at=grid.clock())


async def download(grid: Grid, session_id: str, result_id: str) -> AsyncIterator[bytes]:
    """The data of a COMPLETED result, in chunks; a small one comes with its
    record in one read."""
    found = await grid.state.result_data(session_id, result_id)
    if found.status is not ResultStatus.COMPLETED:  # no data: NOT_FOUND, as ArmoniK.Core's object storage says
        raise errors.NotFound(f"result data was not found: result {result_id} is {found.status.name}")
    if found.data is not None:
        return _chunked(found.data, grid.data_chunk_max_size)
    return grid.objects.get(found.opaque_id.decode(), chunk_size=grid.data_chunk_max_size)


async def _chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def delete_data(grid: Grid, session_id: str, result_ids: Sequence[str]) -> list[str]:
    """Results -> DELETED and the objects the grid wrote for them removed,
    except ``manual_deletion`` ones (an imported operator's object stays)."""
    await grid.state.get_session(session_id)
    deleted = await grid.state.delete_results_data(session_id, result_ids, at=grid.clock())
    await grid.objects.delete(object_keys.owned(deleted))
    return list(deleted)


async def import_data(grid: Grid, session_id: str, opaque_ids: Sequence[tuple[str, bytes]]) -> list[Result]:
    """Completes CREATED results with objects already in the store: an
    operator's object is referred to, a grid's is copied (``object_keys``)."""
    await _open_session(grid, session_id)
    results = await grid.state.get_results([rid for rid, _ in opaque_ids], session_id=session_id)
    not_created = [r.result_id for r in results if r.status is not ResultStatus.CREATED]
    if not_created:
        raise errors.FailedPrecondition(f"results are not CREATED: {', '.join(not_created)}")
    copies: list[str] = []
    try:
        completions = [await _imported(grid, rid, _decode_key(opaque_id), copies) for rid, opaque_id in opaque_ids]
        await complete(grid, session_id, completions, completed_by="")
    except BaseException:
        await grid.objects.delete(copies)
        raise
    return await grid.state.get_results([rid for rid, _ in opaque_ids])


async def _imported(grid: Grid, result_id: str, key: str, copies: list[str]) -> ports.Completion:
    """The data ``result_id`` gets from the object ``key``; a copy made is
    added to ``copies``. Whatever stops an import (no such object, a result
    the caller may not read) is the same NOT_FOUND: it tells nothing more."""
    writer, stored, size = object_keys.written_for(key), key, None
    if writer is None:
        size = await grid.objects.size(key)
    elif (source := await _readable(grid, writer, key)) is not None:
        stored = object_keys.new_key(result_id)
        if source.data is not None:  # small data lives with its result's record, not in the object store
            return ports.Completion(result_id, len(source.data), stored.encode(), source.data)
        copies.append(stored)
        size = await grid.objects.copy(key, stored)
    if size is None:
        raise errors.NotFound(f"object {key!r} (for result {result_id}) is not in the object store")
    return ports.Completion(result_id, size, stored.encode())


async def _readable(grid: Grid, result_id: str, key: str) -> ports.ResultData | None:
    """The data of ``result_id`` if the caller may download it and it is ``key``."""
    try:
        [result] = await grid.state.get_results([result_id])
    except errors.NotFound:
        return None
    if result.status is not ResultStatus.COMPLETED or object_keys.key_of(result) != key:
        return None
    return await grid.state.result_data(result.session_id, result_id)


def _decode_key(opaque_id: bytes) -> str:
    try:
        key = opaque_id.decode()
    except UnicodeDecodeError as exc:
        raise errors.InvalidArgument(f"opaque id {opaque_id!r} is not a valid object key") from exc
    if not key:
        raise errors.InvalidArgument("opaque id is empty")
    return key


async def get(grid: Grid, result_id: str) -> Result:
    [result] = await grid.state.get_results([result_id])
    return result


async def owners(grid: Grid, session_id: str, result_ids: Sequence[str]) -> dict[str, str]:
    await grid.state.get_session(session_id)
    return await grid.state.owners_of(session_id, result_ids)


async def list_results(grid: Grid, query: filters.ListQuery) -> filters.Page[Result]:
    return await grid.state.list_results(query=query)
