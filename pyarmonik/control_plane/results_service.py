"""Results service: metadata, data upload/download/import/deletion, watch."""

from __future__ import annotations

from collections.abc import AsyncIterator

from armonik.protogen.client import results_service_pb2_grpc
from armonik.protogen.common import objects_pb2
from armonik.protogen.common import results_common_pb2 as pb
from grpc import aio

from pyarmonik.control_plane import convert, convert_results
from pyarmonik.lifecycle import results, watch
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.protocol import client_streams


class ResultsServicer(results_service_pb2_grpc.ResultsServicer):
    def __init__(self, grid: Grid) -> None:
        self._grid = grid

    async def ListResults(self, request: pb.ListResultsRequest, context: aio.ServicerContext) -> pb.ListResultsResponse:
        page = await results.list_results(self._grid, convert_results.list_query(request))
        return convert_results.list_response(request, page)

    async def GetResult(self, request: pb.GetResultRequest, context: aio.ServicerContext) -> pb.GetResultResponse:
        result = await results.get(self._grid, convert.required(request.result_id, "result_id"))
        return pb.GetResultResponse(result=convert_results.result_to_pb(result))

    async def GetOwnerTaskId(
        self, request: pb.GetOwnerTaskIdRequest, context: aio.ServicerContext
    ) -> pb.GetOwnerTaskIdResponse:
        session_id = convert.required(request.session_id, "session_id")
        owners = await results.owners(self._grid, session_id, convert.required_ids(request.result_id, "result_id"))
        return convert_results.owners_response(session_id, owners)

    async def CreateResultsMetaData(
        self, request: pb.CreateResultsMetaDataRequest, context: aio.ServicerContext
    ) -> pb.CreateResultsMetaDataResponse:
        session_id = convert.required(request.session_id, "session_id")
        created = await results.create(self._grid, session_id, convert_results.new_metadata(request))
        return pb.CreateResultsMetaDataResponse(results=[convert_results.result_to_pb(r) for r in created])

    async def CreateResults(
        self, request: pb.CreateResultsRequest, context: aio.ServicerContext
    ) -> pb.CreateResultsResponse:
        session_id = convert.required(request.session_id, "session_id")
        created = await results.create(self._grid, session_id, convert_results.new_with_data(request))
        return pb.CreateResultsResponse(results=[convert_results.result_to_pb(r) for r in created])

    async def UploadResultData(
        self, request_iterator: AsyncIterator[pb.UploadResultDataRequest], context: aio.ServicerContext
    ) -> pb.UploadResultDataResponse:
        messages = aiter(client_streams.messages(request_iterator, context))
        target = convert_results.upload_target(await anext(messages, None))

        async def chunks() -> AsyncIterator[bytes]:
            async for message in messages:
                yield convert_results.upload_chunk(message, target)

        result = await results.upload(self._grid, target[0], target[1], chunks())
        return pb.UploadResultDataResponse(result=convert_results.result_to_pb(result))

    async def DownloadResultData(
        self, request: pb.DownloadResultDataRequest, context: aio.ServicerContext
    ) -> AsyncIterator[pb.DownloadResultDataResponse]:
        session_id = convert.required(request.session_id, "session_id")
        data = await results.download(self._grid, session_id, convert.required(request.result_id, "result_id"))
        async for chunk in data:
            yield pb.DownloadResultDataResponse(data_chunk=chunk)

    async def DeleteResultsData(
        self, request: pb.DeleteResultsDataRequest, context: aio.ServicerContext
    ) -> pb.DeleteResultsDataResponse:
        session_id = convert.required(request.session_id, "session_id")
        deleted = await results.delete_data(
            self._grid, session_id, convert.required_ids(request.result_id, "result_id")
        )
        return pb.DeleteResultsDataResponse(session_id=session_id, result_id=deleted)

    async def ImportResultsData(
        self, request: pb.ImportResultsDataRequest, context: aio.ServicerContext
    ) -> pb.ImportResultsDataResponse:
        session_id = convert.required(request.session_id, "session_id")
        imported = await results.import_data(self._grid, session_id, convert_results.import_pairs(request))
        return pb.ImportResultsDataResponse(results=[convert_results.result_to_pb(r) for r in imported])

    async def GetServiceConfiguration(
        self, request: objects_pb2.Empty, context: aio.ServicerContext
    ) -> pb.ResultsServiceConfigurationResponse:
        return pb.ResultsServiceConfigurationResponse(data_chunk_max_size=self._grid.data_chunk_max_size)

    async def WatchResults(
        self, request_iterator: AsyncIterator[pb.WatchResultRequest], context: aio.ServicerContext
    ) -> AsyncIterator[pb.WatchResultResponse]:
        async for status, result_ids in watch.watch(self._grid, convert_results.watch_requests(request_iterator)):
            yield pb.WatchResultResponse(status=int(status), result_ids=result_ids)
