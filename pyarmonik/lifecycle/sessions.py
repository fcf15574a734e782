"""Session lifecycle, with ArmoniK.Core's allowed transitions.

| use case        | allowed from            |
|-----------------|-------------------------|
| cancel          | not CANCELLED/PURGED/DELETED |
| pause           | RUNNING                 |
| resume          | PAUSED, RUNNING         |
| close           | RUNNING, PAUSED         |
| purge           | CLOSED, CANCELLED       |
| delete          | any                     |
| stop submission | any                     |
"""

from __future__ import annotations

from pyarmonik.core import errors, fairshare, filters, ids, limits
from pyarmonik.core.models import Session, TaskOptions
from pyarmonik.core.statuses import SessionStatus
from pyarmonik.lifecycle.grid import Grid

ANY = frozenset(SessionStatus)
_CANCELLABLE = ANY - {SessionStatus.CANCELLED, SessionStatus.PURGED, SessionStatus.DELETED}
_PAUSABLE = frozenset({SessionStatus.RUNNING})
_RESUMABLE = frozenset({SessionStatus.PAUSED, SessionStatus.RUNNING})
_CLOSABLE = frozenset({SessionStatus.RUNNING, SessionStatus.PAUSED})
_PURGEABLE = frozenset({SessionStatus.CLOSED, SessionStatus.CANCELLED})
_DELETABLE = ANY - {SessionStatus.DELETED}

MIN_PRIORITY, MAX_PRIORITY = 1, 99


def validate_default_options(options: TaskOptions) -> None:
    """ArmoniK requires usable defaults, since every task may fall back on them."""
    if options.max_retries < 1:
        raise errors.InvalidArgument(f"default task options: max_retries must be >= 1, got {options.max_retries}")
    if not MIN_PRIORITY <= options.priority <= MAX_PRIORITY:
        raise errors.InvalidArgument(
            f"default task options: priority must be in {MIN_PRIORITY}..{MAX_PRIORITY}, got {options.priority}"
        )
    if not options.max_duration or options.max_duration <= 0:
        raise errors.InvalidArgument("default task options: max_duration must be set and positive")
    try:
        fairshare.session_weight(options.options)
    except ValueError as exc:
        raise errors.InvalidArgument(f"default task options: {exc}") from None


async def create(grid: Grid, *, options: TaskOptions | None, partition_ids: list[str]) -> Session:
    if options is None:
        raise errors.InvalidArgument("default_task_option is required")
    validate_default_options(options)
    names = [*partition_ids, *limits.option_names(options)]
    limits.check_ids(grid.limits.id_length, names, what="partition id or task option")
    partitions = list(dict.fromkeys(partition_ids)) or [options.partition_id or grid.default_partition]
    for partition_id in partitions:
        await grid.state.get_partition(partition_id)
    if options.partition_id and options.partition_id not in partitions:
        raise errors.InvalidArgument(
            f"default partition {options.partition_id} is not one of the session's partitions {partitions}"
        )
    options.partition_id = options.partition_id or partitions[0]
    session = Session(
        session_id=ids.new_id(),
        status=SessionStatus.RUNNING,
        options=options,
        partition_ids=partitions,
        created_at=grid.clock(),
    )
    await grid.state.create_session(session)
    return session


async def get(grid: Grid, session_id: str) -> Session:
    return await grid.state.get_session(session_id)


async def list_sessions(grid: Grid, query: filters.ListQuery) -> filters.Page[Session]:
    return await grid.state.list_sessions(query=query)


async def cancel(grid: Grid, session_id: str) -> Session:
    at = grid.clock()
    session = await grid.state.update_session(
        session_id,
        allowed_from=_CANCELLABLE,
        status=SessionStatus.CANCELLED,
        client_submission=False,
        worker_submission=False,
        at=at,
    )
    await grid.state.cancel_session(session_id, at=at)
    return session


async def pause(grid: Grid, session_id: str) -> Session:
    at = grid.clock()
    session = await grid.state.update_session(session_id, allowed_from=_PAUSABLE, status=SessionStatus.PAUSED, at=at)
    await grid.state.pause_session_tasks(session_id, at=at)
    return session


async def resume(grid: Grid, session_id: str) -> Session:
    at = grid.clock()
    session = await grid.state.update_session(session_id, allowed_from=_RESUMABLE, status=SessionStatus.RUNNING, at=at)
    await grid.state.resume_session_tasks(session_id, at=at)
    return session


async def close(grid: Grid, session_id: str) -> Session:
    """Submission closed; the queued tasks are cancelled (ArmoniK cancels
    them when dequeued), the running ones finish."""
    at = grid.clock()
    session = await grid.state.update_session(
        session_id,
        allowed_from=_CLOSABLE,
        status=SessionStatus.CLOSED,
        client_submission=False,
        worker_submission=False,
        at=at,
    )
    await grid.state.cancel_queued_tasks(session_id, at=at)
    return session


async def purge(grid: Grid, session_id: str) -> Session:
    """Results are marked DELETED before their data goes, so that a crash in
    between leaves orphan objects, never a COMPLETED result without data."""
    at = grid.clock()
    session = await grid.state.update_session(session_id, allowed_from=_PURGEABLE, status=SessionStatus.PURGED, at=at)
    results = await grid.state.session_results(session_id)
    deleted = await grid.state.delete_results_data(session_id, [r.result_id for r in results], at=at)
    await grid.objects.delete([opaque.decode() for opaque in deleted.values() if opaque])
    return session


async def delete(grid: Grid, session_id: str) -> Session:
    """Metadata goes, as in ArmoniK; so does the data of results that are not
    ``manual_deletion``, which nothing could reach any more."""
    session = await grid.state.update_session(
        session_id, allowed_from=_DELETABLE, status=SessionStatus.DELETED, at=grid.clock()
    )
    results = await grid.state.session_results(session_id)
    await grid.state.delete_session(session_id)
    await grid.objects.delete([r.opaque_id.decode() for r in results if r.opaque_id and not r.manual_deletion])
    return session


async def stop_submission(grid: Grid, session_id: str, *, client: bool, worker: bool) -> Session:
    return await grid.state.update_session(
        session_id,
        allowed_from=ANY,
        client_submission=False if client else None,
        worker_submission=False if worker else None,
        at=grid.clock(),
    )
