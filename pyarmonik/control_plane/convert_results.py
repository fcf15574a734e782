"""Results: ``ResultRaw`` and the parsing of result requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TypeVar

from armonik.protogen.common import results_common_pb2 as pb

from pyarmonik.control_plane import convert, filter_conversion
from pyarmonik.core import errors, filters
from pyarmonik.core.models import Result
from pyarmonik.core.statuses import ResultStatus
from pyarmonik.lifecycle import results, watch
from pyarmonik.protocol import options

_Creation = TypeVar("_Creation")


def result_to_pb(result: Result) -> pb.ResultRaw:
    return pb.ResultRaw(
        session_id=result.session_id,
        name=result.name,
        owner_task_id=result.owner_task_id,
        status=int(result.status),
        created_at=options.timestamp(result.created_at),
        completed_at=options.timestamp(result.completed_at),
        result_id=result.result_id,
        size=result.size,
        created_by=result.created_by,
        opaque_id=result.opaque_id,
        manual_deletion=result.manual_deletion,
    )


def list_query(request: pb.ListResultsRequest) -> filters.ListQuery:
    return convert.list_query(
        request, filter_conversion.result_filters(request.filters), filter_conversion.result_sort(request.sort)
    )


def list_response(request: pb.ListResultsRequest, page: filters.Page[Result]) -> pb.ListResultsResponse:
    return convert.page_reply(
        pb.ListResultsResponse, "results", request, (result_to_pb(r) for r in page.items), page.total
    )


def new_metadata(request: pb.CreateResultsMetaDataRequest) -> list[results.NewResult]:
    return [results.NewResult(name=r.name, manual_deletion=r.manual_deletion) for r in _non_empty(request.results)]


def new_with_data(request: pb.CreateResultsRequest) -> list[results.NewResult]:
    return [
        results.NewResult(name=r.name, manual_deletion=r.manual_deletion, data=r.data)
        for r in _non_empty(request.results)
    ]


def _non_empty(items: Sequence[_Creation]) -> Sequence[_Creation]:
    if not items:
        raise errors.InvalidArgument("results must list at least one result to create")
    return items


def owners_response(session_id: str, owners: Mapping[str, str]) -> pb.GetOwnerTaskIdResponse:
    return pb.GetOwnerTaskIdResponse(
        session_id=session_id,
        result_task=[pb.GetOwnerTaskIdResponse.MapResultTask(result_id=r, task_id=t) for r, t in owners.items()],
    )


def import_pairs(request: pb.ImportResultsDataRequest) -> list[tuple[str, bytes]]:
    pairs = [(r.result_id, r.opaque_id) for r in request.results]
    convert.required_ids([result_id for result_id, _ in pairs], "results")
    return pairs


def upload_target(first: pb.UploadResultDataRequest | None) -> tuple[str, str]:
    """(session id, result id) named by the first message of an upload."""
    if first is None or first.WhichOneof("type") != "id":
        raise errors.InvalidArgument("the first message of an upload must identify the result (id)")
    return convert.required(first.id.session_id, "id.session_id"), convert.required(first.id.result_id, "id.result_id")


def upload_chunk(message: pb.UploadResultDataRequest, target: tuple[str, str]) -> bytes:
    """The data of a message after the first; another result's id is refused."""
    kind = message.WhichOneof("type")
    if kind == "data_chunk":
        return message.data_chunk
    if kind == "id" and (message.id.session_id, message.id.result_id) == target:
        return b""
    raise errors.InvalidArgument(f"an upload of result {target[1]} may only carry data chunks of that result")


def statuses(values: Sequence[int]) -> frozenset[ResultStatus]:
    try:
        return frozenset(ResultStatus(v) for v in values)
    except ValueError as exc:
        raise errors.InvalidArgument(f"unknown result status in {list(values)}") from exc


async def watch_requests(messages: AsyncIterator[pb.WatchResultRequest]) -> AsyncIterator[watch.WatchRequest]:
    async for message in messages:
        yield watch.WatchRequest(
            result_ids=tuple(convert.required_ids(message.result_ids, "result_ids")),
            fetch_statuses=statuses(message.fetch_statuses),
            watch_statuses=statuses(message.watch_statuses),
        )
