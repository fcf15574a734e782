"""Versions service: this grid's version as ``core``, the ArmoniK API it speaks as ``api``."""

from __future__ import annotations

import importlib.metadata

from armonik.protogen.client import versions_service_pb2_grpc
from armonik.protogen.common import versions_common_pb2 as pb
from grpc import aio

import pyarmonik


def api_version() -> str:
    """The version of the official ``armonik`` package whose stubs we serve."""
    try:
        return importlib.metadata.version("armonik")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def core_version() -> str:
    """This grid's version, which the Admin GUI shows when it is numbers only (``0.1.0``)."""
    return pyarmonik.__version__


class VersionsServicer(versions_service_pb2_grpc.VersionsServicer):
    async def ListVersions(
        self, request: pb.ListVersionsRequest, context: aio.ServicerContext
    ) -> pb.ListVersionsResponse:
        return pb.ListVersionsResponse(core=core_version(), api=api_version())
