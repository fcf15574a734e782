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

from pyarmonik.core import errors, filters, ids, limits, ranges
from pyarmonik.core.models import Session, TaskOptions
from pyarmonik.core.statuses import SessionStatus
from pyarmonik.lifecycle import object_keys
from pyarmonik.lifecycle.grid import Grid

ANY = frozenset(SessionStatus)
#: A change whose follow-up is not settled by then was cut short (its
#: control plane stopped): longer than any follow-up takes, so that two
#: processes seldom run the same one (running it twice is harmless).
FOLLOW_UP_RETRY_SECONDS = 60.0
_CANCELLABLE = ANY - {SessionStatus.CANCELLED, SessionStatus.PURGED, SessionStatus.DELETED}
_PAUSABLE = frozenset({SessionStatus.RUNNING})
_RESUMABLE = frozenset({SessionStatus.PAUSED, SessionStatus.RUNNING})
_CLOSABLE = frozenset({SessionStatus.RUNNING, SessionStatus.PAUSED})
_PURGEABLE = frozenset({SessionStatus.CLOSED, SessionStatus.CANCELLED})
_DELETABLE = ANY - {SessionStatus.DELETED}


async def create(grid: Grid, *, options: TaskOptions | None, partition_ids: list[str]) -> Session:
    if options is None:
        raise errors.InvalidArgument("default_task_option is required")
    ranges.check_session_defaults(options)
    names = [*partition_ids, *limits.option_names(options)]
    limits.check_ids(grid.limits.id_length, names, what="partition id or task option")
    limits.check_options_size(grid.limits.task_options_size, options, what="default_task_option")
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
        follow_up=True,
        at=at,
    )
    await _follow_up(grid, session_id, SessionStatus.CANCELLED, at)
    return session


async def pause(grid: Grid, session_id: str) -> Session:
    at = grid.clock()
    session = await grid.state.update_session(
        session_id, allowed_from=_PAUSABLE, status=SessionStatus.PAUSED, follow_up=True, at=at
    )
    await _follow_up(grid, session_id, SessionStatus.PAUSED, at)
    return session


async def resume(grid: Grid, session_id: str) -> Session:
    at = grid.clock()
    if await grid.state.follow_up_pending(session_id):
        # A pause cut short left tasks SUBMITTED but out of the queues (the
        # session stopped running): paused first, so that all are resumed.
        await grid.state.pause_session_tasks(session_id, at=at)
    session = await grid.state.update_session(
        session_id, allowed_from=_RESUMABLE, status=SessionStatus.RUNNING, follow_up=True, at=at
    )
    await _follow_up(grid, session_id, SessionStatus.RUNNING, at)
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
        follow_up=True,
        at=at,
    )
    await _follow_up(grid, session_id, SessionStatus.CLOSED, at)
    return session


async def _follow_up(grid: Grid, session_id: str, status: SessionStatus, at: float) -> None:
    """The steps on the session's tasks that follow its change to ``status``
    at ``at`` (short calls: a session may hold 1,000,000 tasks), then the
    change is settled. Each step is idempotent and moves nothing once a
    later change overtook it, so a follow-up may run again."""
    state = grid.state
    if status is SessionStatus.PAUSED:
        await state.pause_session_tasks(session_id, at=at)
    elif status is SessionStatus.RUNNING:
        await state.resume_session_tasks(session_id, at=at)
    elif status is SessionStatus.CLOSED:
        await state.cancel_queued_tasks(session_id, at=at)
    elif status is SessionStatus.CANCELLED:
        await state.cancel_session(session_id, at=at)
    await state.settled(session_id, since=at)


async def finish_cut_short(grid: Grid) -> int:
    """Finishes the follow-ups that control planes stopped in the middle of
    (a pause, resume, close or cancel whose tasks did not all follow), for
    the session's status now; how many sessions. Any process may run it."""
    at = grid.clock()
    session_ids = await grid.state.unsettled_sessions(started_before=at - FOLLOW_UP_RETRY_SECONDS, at=at)
    for session_id in session_ids:
        try:
            status = (await grid.state.get_session(session_id)).status
        except errors.NotFound:  # deleted since: nothing left to follow
            await grid.state.settled(session_id, since=at)
            continue
        await _follow_up(grid, session_id, status, at)
    return len(session_ids)


async def purge(grid: Grid, session_id: str) -> Session:
    """Results are marked DELETED before their data goes, so that a crash in
    between leaves orphan objects, never a COMPLETED result without data."""
    at = grid.clock()
    session = await grid.state.update_session(session_id, allowed_from=_PURGEABLE, status=SessionStatus.PURGED, at=at)
    results = await grid.state.session_results(session_id)
    deleted = await grid.state.delete_results_data(session_id, [r.result_id for r in results], at=at)
    await grid.objects.delete(object_keys.owned(deleted))
    return session


async def delete(grid: Grid, session_id: str) -> Session:
    """Metadata goes, as in ArmoniK; so does the data of results that are not
    ``manual_deletion``, which nothing could reach any more."""
    session = await grid.state.update_session(
        session_id, allowed_from=_DELETABLE, status=SessionStatus.DELETED, at=grid.clock()
    )
    results = await grid.state.session_results(session_id)
    await grid.state.delete_session(session_id)
    await grid.objects.delete(object_keys.owned({r.result_id: r.opaque_id for r in results if not r.manual_deletion}))
    return session


async def stop_submission(grid: Grid, session_id: str, *, client: bool, worker: bool) -> Session:
    return await grid.state.update_session(
        session_id,
        allowed_from=ANY,
        client_submission=False if client else None,
        worker_submission=False if worker else None,
        at=grid.clock(),
    )
