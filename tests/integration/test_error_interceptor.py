"""The error interceptor on a real grpc.aio server, for each RPC shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from armonik.protogen.client import events_service_pb2_grpc, versions_service_pb2_grpc
from armonik.protogen.client.results_service_pb2_grpc import ResultsServicer, ResultsStub, add_ResultsServicer_to_server
from armonik.protogen.common import events_common_pb2, results_common_pb2, versions_common_pb2
from grpc import aio

from pyarmonik.core import errors
from pyarmonik.protocol.interceptor import ErrorInterceptor


class Failing(versions_service_pb2_grpc.VersionsServicer, events_service_pb2_grpc.EventsServicer):
    async def ListVersions(self, request: object, context: aio.ServicerContext) -> object:
        raise RuntimeError("a bug")

    async def GetEvents(
        self, request: events_common_pb2.EventSubscriptionRequest, context: aio.ServicerContext
    ) -> AsyncIterator[events_common_pb2.EventSubscriptionResponse]:
        yield events_common_pb2.EventSubscriptionResponse(session_id=request.session_id)
        raise errors.FailedPrecondition("stopped mid-stream")


class Uploads(ResultsServicer):
    async def UploadResultData(
        self, request_iterator: AsyncIterator[results_common_pb2.UploadResultDataRequest], context: aio.ServicerContext
    ) -> results_common_pb2.UploadResultDataResponse:
        async for _ in request_iterator:
            raise errors.InvalidArgument("bad chunk")
        return results_common_pb2.UploadResultDataResponse()


@pytest.fixture
async def channel() -> AsyncIterator[aio.Channel]:
    server = aio.server(interceptors=[ErrorInterceptor()])
    failing = Failing()
    versions_service_pb2_grpc.add_VersionsServicer_to_server(failing, server)
    events_service_pb2_grpc.add_EventsServicer_to_server(failing, server)
    add_ResultsServicer_to_server(Uploads(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with aio.insecure_channel(f"127.0.0.1:{port}") as opened:
        yield opened
    await server.stop(None)


async def test_an_unexpected_exception_becomes_internal(channel: aio.Channel) -> None:
    stub = versions_service_pb2_grpc.VersionsStub(channel)

    with pytest.raises(aio.AioRpcError) as error:
        await stub.ListVersions(versions_common_pb2.ListVersionsRequest())

    assert error.value.code() == grpc.StatusCode.INTERNAL
    assert "RuntimeError" in (error.value.details() or "")


async def test_an_error_raised_mid_stream_ends_the_stream_with_its_status(channel: aio.Channel) -> None:
    call = events_service_pb2_grpc.EventsStub(channel).GetEvents(
        events_common_pb2.EventSubscriptionRequest(session_id="s")
    )
    received = []

    with pytest.raises(aio.AioRpcError) as error:
        async for response in call:
            received.append(response.session_id)

    assert received == ["s"]
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.value.details() == "stopped mid-stream"


async def test_an_error_in_a_client_stream_handler_keeps_its_status(channel: aio.Channel) -> None:
    async def requests() -> AsyncIterator[results_common_pb2.UploadResultDataRequest]:
        yield results_common_pb2.UploadResultDataRequest(data_chunk=b"x")

    with pytest.raises(aio.AioRpcError) as error:
        await ResultsStub(channel).UploadResultData(requests())

    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
