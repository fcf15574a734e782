"""Sessions service: create, read, list and drive the session lifecycle."""

from __future__ import annotations

from armonik.protogen.client import sessions_service_pb2_grpc
from armonik.protogen.common import sessions_common_pb2 as pb
from grpc import aio

from pyarmonik.control_plane import convert_sessions
from pyarmonik.lifecycle import sessions
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.protocol import options


class SessionsServicer(sessions_service_pb2_grpc.SessionsServicer):
    def __init__(self, grid: Grid) -> None:
        self._grid = grid

    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: aio.ServicerContext
    ) -> pb.ListSessionsResponse:
        page = await sessions.list_sessions(self._grid, convert_sessions.list_query(request))
        return convert_sessions.list_response(request, page)

    async def GetSession(self, request: pb.GetSessionRequest, context: aio.ServicerContext) -> pb.GetSessionResponse:
        session = await sessions.get(self._grid, convert_sessions.session_id(request))
        return pb.GetSessionResponse(session=convert_sessions.session_to_pb(session))

    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: aio.ServicerContext
    ) -> pb.CreateSessionReply:
        session = await sessions.create(
            self._grid,
            options=options.optional_task_options(request, "default_task_option"),
            partition_ids=list(request.partition_ids),
        )
        return pb.CreateSessionReply(session_id=session.session_id)

    async def CancelSession(
        self, request: pb.CancelSessionRequest, context: aio.ServicerContext
    ) -> pb.CancelSessionResponse:
        session = await sessions.cancel(self._grid, convert_sessions.session_id(request))
        return pb.CancelSessionResponse(session=convert_sessions.session_to_pb(session))

    async def PauseSession(
        self, request: pb.PauseSessionRequest, context: aio.ServicerContext
    ) -> pb.PauseSessionResponse:
        session = await sessions.pause(self._grid, convert_sessions.session_id(request))
        return pb.PauseSessionResponse(session=convert_sessions.session_to_pb(session))

    async def ResumeSession(
        self, request: pb.ResumeSessionRequest, context: aio.ServicerContext
    ) -> pb.ResumeSessionResponse:
        session = await sessions.resume(self._grid, convert_sessions.session_id(request))
        return pb.ResumeSessionResponse(session=convert_sessions.session_to_pb(session))

    async def CloseSession(
        self, request: pb.CloseSessionRequest, context: aio.ServicerContext
    ) -> pb.CloseSessionResponse:
        session = await sessions.close(self._grid, convert_sessions.session_id(request))
        return pb.CloseSessionResponse(session=convert_sessions.session_to_pb(session))

    async def PurgeSession(
        self, request: pb.PurgeSessionRequest, context: aio.ServicerContext
    ) -> pb.PurgeSessionResponse:
        session = await sessions.purge(self._grid, convert_sessions.session_id(request))
        return pb.PurgeSessionResponse(session=convert_sessions.session_to_pb(session))

    async def DeleteSession(
        self, request: pb.DeleteSessionRequest, context: aio.ServicerContext
    ) -> pb.DeleteSessionResponse:
        session = await sessions.delete(self._grid, convert_sessions.session_id(request))
        return pb.DeleteSessionResponse(session=convert_sessions.session_to_pb(session))

    async def StopSubmission(
        self, request: pb.StopSubmissionRequest, context: aio.ServicerContext
    ) -> pb.StopSubmissionResponse:
        session = await sessions.stop_submission(
            self._grid, convert_sessions.session_id(request), client=request.client, worker=request.worker
        )
        return pb.StopSubmissionResponse(session=convert_sessions.session_to_pb(session))
