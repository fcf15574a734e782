"""Authentication service. Authentication is off: every caller is the
anonymous user, allowed every RPC. (Checking users, roles and permissions
will be one interceptor, never code inside servicers.)"""

from __future__ import annotations

from armonik.protogen.client import auth_service_pb2_grpc
from armonik.protogen.common import auth_common_pb2 as pb
from grpc import aio

from pyarmonik.control_plane import api

ANONYMOUS = "anonymous"


class AuthenticationServicer(auth_service_pb2_grpc.AuthenticationServicer):
    def __init__(self) -> None:
        self._permissions = api.permissions()

    async def GetCurrentUser(
        self, request: pb.GetCurrentUserRequest, context: aio.ServicerContext
    ) -> pb.GetCurrentUserResponse:
        return pb.GetCurrentUserResponse(user=pb.User(username=ANONYMOUS, roles=[], permissions=self._permissions))
