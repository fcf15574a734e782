"""Sessions: ``SessionRaw`` and the parsing of session requests."""

from __future__ import annotations

from armonik.protogen.common import sessions_common_pb2 as pb

from pyarmonik.control_plane import convert, filter_conversion
from pyarmonik.core import filters
from pyarmonik.core.models import Session
from pyarmonik.protocol import options


def session_to_pb(session: Session) -> pb.SessionRaw:
    return pb.SessionRaw(
        session_id=session.session_id,
        status=int(session.status),
        client_submission=session.client_submission,
        worker_submission=session.worker_submission,
        partition_ids=session.partition_ids,
        options=options.task_options_to_pb(session.options),
        created_at=options.timestamp(session.created_at),
        cancelled_at=options.timestamp(session.cancelled_at),
        closed_at=options.timestamp(session.closed_at),
        purged_at=options.timestamp(session.purged_at),
        deleted_at=options.timestamp(session.deleted_at),
        duration=options.duration(session.duration),
    )


def list_query(request: pb.ListSessionsRequest) -> filters.ListQuery:
    return convert.list_query(
        request, filter_conversion.session_filters(request.filters), filter_conversion.session_sort(request.sort)
    )


def list_response(request: pb.ListSessionsRequest, page: filters.Page[Session]) -> pb.ListSessionsResponse:
    return convert.page_reply(
        pb.ListSessionsResponse, "sessions", request, (session_to_pb(s) for s in page.items), page.total
    )


def session_id(request: object) -> str:
    return convert.required(request.session_id, "session_id")  # type: ignore[attr-defined]
