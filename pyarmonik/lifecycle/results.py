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
    results, data = [], []
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
            data.append((key, item.data))
            result.size = len(item.data)
            result.opaque_id = key.encode()
            result.status = ResultStatus.COMPLETED
            result.completed_at = at
            result.owner_task_id = created_by or session_id
        results.append(result)
    await grid.objects.put_all(data)  # before the metadata: never COMPLETED without data
    await grid.state.create_results(results)
    return results


async def upload(grid: Grid, session_id: str, result_id: str, chunks: AsyncIterable[bytes]) -> Result:
    await _open_session(grid, session_id)
    [result] = await grid.state.get_results([result_id], session_id=session_id)
    if result.status is not ResultStatus.CREATED:
        raise errors.FailedPrecondition(f"result {result_id} is {result.status.name}, not waiting for data")
    key = object_keys.new_key(result_id)
    bounded = limits.bounded(grid.limits.result_data_size, chunks, what=f"the data of result {result_id}")
    size = await grid.objects.put(key, bounded)
    try:
        await complete(grid, session_id, [ports.Completion(result_id, size, key.encode())], completed_by="")
    except errors.PyArmoniKError:
        await grid.objects.delete([key])
        raise
    [result] = await grid.state.get_results([result_id])
    return result


async def complete(grid: Grid, session_id: str, completions: Sequence[ports.Completion], *, completed_by: str) -> None:
    ready = await grid.state.complete_results(session_id, completions, completed_by=completed_by, at=grid.clock())
    await grid.enqueue(ready)


async def download(grid: Grid, session_id: str, result_id: str) -> AsyncIterator[bytes]:
    [result] = await grid.state.get_results([result_id], session_id=session_id)
    if result.status is not ResultStatus.COMPLETED:
        raise errors.FailedPrecondition(f"result {result_id} is {result.status.name}, its data is not available")
    return grid.objects.get(object_keys.key_of(result), chunk_size=grid.data_chunk_max_size)


async def delete_data(grid: Grid, session_id: str, result_ids: Sequence[str]) -> list[str]:
    """Results -> DELETED and the objects the grid wrote for them removed,
    except ``manual_deletion`` ones (an imported operator's object stays)."""
    await grid.state.get_session(session_id)
    deleted = await grid.state.delete_results_data(session_id, result_ids, at=grid.clock())
    await grid.objects.delete(object_keys.owned(deleted))
    return [r.result_id for r in deleted]


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
    elif await _readable(grid, writer, key):
        stored = object_keys.new_key(result_id)
        copies.append(stored)
        size = await grid.objects.copy(key, stored)
    if size is None:
        raise errors.NotFound(f"object {key!r} (for result {result_id}) is not in the object store")
    return ports.Completion(result_id, size, stored.encode())


async def _readable(grid: Grid, result_id: str, key: str) -> bool:
    """Whether the caller may download ``result_id`` and its data is ``key``."""
    try:
        [result] = await grid.state.get_results([result_id])
    except errors.NotFound:
        return False
    return result.status is ResultStatus.COMPLETED and object_keys.key_of(result) == key


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
