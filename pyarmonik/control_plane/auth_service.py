"""Authentication service: who the caller is, as the auth interceptor
identified it (``identity.current()``): its user name, roles and
permissions, wildcards expanded. With authentication off the caller is the
anonymous user, allowed every permission, as in ArmoniK."""

from __future__ import annotations

from armonik.protogen.client import auth_service_pb2_grpc
from armonik.protogen.common import auth_common_pb2 as pb
from grpc import aio

from pyarmonik.control_plane import auth_config
from pyarmonik.core import identity


class AuthenticationServicer(auth_service_pb2_grpc.AuthenticationServicer):
    def __init__(self) -> None:
        self._known = auth_config.known_permissions()

    async def GetCurrentUser(
        self, request: pb.GetCurrentUserRequest, context: aio.ServicerContext
    ) -> pb.GetCurrentUserResponse:
        caller = identity.current() or identity.ANONYMOUS
        return pb.GetCurrentUserResponse(
            user=pb.User(
                username=caller.username, roles=list(caller.roles), permissions=caller.permissions(self._known)
            )
        )
