"""The legacy Submitter service: registered so that old clients get a clear
UNIMPLEMENTED pointing to the v3 services, not a bare "unknown service"."""

from __future__ import annotations

from typing import Any

from armonik.protogen.client import submitter_service_pb2, submitter_service_pb2_grpc
from grpc import aio

from pyarmonik.core import errors

_MESSAGE = (
    "the legacy Submitter service is not supported: use the v3 services "
    "(Sessions, Tasks, Results, Events) of the ArmoniK API, as armonik.client does"
)


def _unimplemented(rpc: str) -> Any:
    async def method(self: Any, request: Any, context: aio.ServicerContext) -> Any:
        raise errors.Unimplemented(f"Submitter.{rpc}: {_MESSAGE}")

    method.__name__ = rpc
    return method


class SubmitterServicer(submitter_service_pb2_grpc.SubmitterServicer):
    pass


for _method in submitter_service_pb2.DESCRIPTOR.services_by_name["Submitter"].methods:
    setattr(SubmitterServicer, _method.name, _unimplemented(_method.name))
