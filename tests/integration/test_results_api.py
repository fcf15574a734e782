"""The Results service, driven by the official client (raw stubs where the
client has no method, such as ``manual_deletion`` or malformed uploads)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest
from armonik.client import ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import Direction, Result, ResultStatus, TaskDefinition
from armonik.protogen.client.results_service_pb2_grpc import ResultsStub
from armonik.protogen.common import results_common_pb2 as pb

from tests.helpers import grpc_code

from .conftest import CHUNK_SIZE, RunningGrid

BIG = bytes(range(256)) * (CHUNK_SIZE * 3 // 256 + 7)  # several chunks, the last one partial


def test_created_metadata_waits_for_data_without_owner(results: ArmoniKResults, session_id: str) -> None:
    created = results.create_results_metadata(["a", "b"], session_id)

    assert set(created) == {"a", "b"}
    for name, result in created.items():
        assert result.name == name and result.session_id == session_id
        assert result.status == ResultStatus.CREATED
        assert result.owner_task_id == "" and result.completed_at is None


def test_results_created_with_data_are_completed_and_downloadable(results: ArmoniKResults, session_id: str) -> None:
    created = results.create_results({"small": b"hello", "empty": b""}, session_id, batch_size=2)

    assert created["small"].status == ResultStatus.COMPLETED and created["small"].size == 5
    assert results.download_result_data(created["small"].result_id, session_id) == b"hello"
    assert results.download_result_data(created["empty"].result_id, session_id) == b""


def test_service_configuration_gives_the_chunk_size(results: ArmoniKResults) -> None:
    assert results.get_service_config() == CHUNK_SIZE


def test_a_chunked_upload_completes_the_result_and_downloads_identically(
    results: ArmoniKResults, session_id: str
) -> None:
    result_id = results.create_results_metadata(["big"], session_id)["big"].result_id

    results.upload_result_data(result_id, session_id, BIG)

    result = results.get_result(result_id)
    assert result.status == ResultStatus.COMPLETED and result.size == len(BIG)
    assert results.download_result_data(result_id, session_id) == BIG


def test_downloads_come_in_chunks_no_larger_than_the_chunk_size(
    channel: grpc.Channel, results: ArmoniKResults, session_id: str
) -> None:
    result_id = results.create_results({"big": BIG}, session_id)["big"].result_id

    chunks = [
        m.data_chunk
        for m in ResultsStub(channel).DownloadResultData(
            pb.DownloadResultDataRequest(session_id=session_id, result_id=result_id)
        )
    ]

    assert len(chunks) > 1 and all(len(c) <= CHUNK_SIZE for c in chunks)
    assert b"".join(chunks) == BIG


def test_uploading_a_completed_result_again_is_a_failed_precondition(results: ArmoniKResults, session_id: str) -> None:
    result_id = results.create_results({"done": b"x"}, session_id)["done"].result_id

    code = grpc_code(lambda: results.upload_result_data(result_id, session_id, b"again"))

    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert results.download_result_data(result_id, session_id) == b"x"


def test_an_upload_that_does_not_start_with_an_id_is_an_invalid_argument(channel: grpc.Channel) -> None:
    messages = iter([pb.UploadResultDataRequest(data_chunk=b"data")])

    assert grpc_code(lambda: ResultsStub(channel).UploadResultData(messages)) == grpc.StatusCode.INVALID_ARGUMENT


def test_an_upload_switching_to_another_result_is_an_invalid_argument(
    channel: grpc.Channel, results: ArmoniKResults, session_id: str
) -> None:
    created = results.create_results_metadata(["a", "b"], session_id)
    ident = pb.UploadResultDataRequest.ResultIdentifier
    messages = iter(
        [
            pb.UploadResultDataRequest(id=ident(session_id=session_id, result_id=created["a"].result_id)),
            pb.UploadResultDataRequest(data_chunk=b"a"),
            pb.UploadResultDataRequest(id=ident(session_id=session_id, result_id=created["b"].result_id)),
        ]
    )

    assert grpc_code(lambda: ResultsStub(channel).UploadResultData(messages)) == grpc.StatusCode.INVALID_ARGUMENT
    assert results.get_result(created["a"].result_id).status == ResultStatus.CREATED


def _without_data(how: str, results: ArmoniKResults, sessions: ArmoniKSessions, session_id: str) -> str:
    """A result of ``session_id`` left without data ``how``: its id."""
    if how == "created":
        return results.create_results_metadata(["pending"], session_id)["pending"].result_id
    if how == "aborted":
        result_id = results.create_results_metadata(["pending"], session_id)["pending"].result_id
        sessions.cancel_session(session_id)  # its CREATED results are ABORTED
        return result_id
    result_id = results.create_results({"done": b"data"}, session_id)["done"].result_id
    if how == "deleted":
        results.delete_result_data([result_id], session_id)
    else:  # purged
        sessions.close_session(session_id)
        sessions.purge_session(session_id)
    return result_id


@pytest.mark.parametrize("how", ["created", "aborted", "deleted", "purged"])
def test_downloading_a_result_without_data_is_not_found_as_in_armonik_core(
    how: str, results: ArmoniKResults, sessions: ArmoniKSessions, session_id: str
) -> None:
    result_id = _without_data(how, results, sessions, session_id)

    with pytest.raises(grpc.RpcError) as raised:
        results.download_result_data(result_id, session_id)

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    assert f"result data was not found: result {result_id} is " in raised.value.details()  # type: ignore[attr-defined]


def test_deleting_data_spares_manual_deletion_results(
    channel: grpc.Channel, running_grid: RunningGrid, results: ArmoniKResults, session_id: str
) -> None:
    create = pb.CreateResultsRequest.ResultCreate
    in_a_file = b"g" * (running_grid.options.small_object_bytes + 1)  # smaller ones live in Redis
    response = ResultsStub(channel).CreateResults(
        pb.CreateResultsRequest(
            session_id=session_id,
            results=[create(name="kept", data=b"k", manual_deletion=True), create(name="gone", data=in_a_file)],
        )
    )
    kept, gone = (r.result_id for r in response.results)
    gone_file = running_grid.objects_root / results.get_result(gone).opaque_id.decode()
    assert gone_file.exists()

    results.delete_result_data([kept, gone], session_id)

    assert results.get_result(gone).status == ResultStatus.DELETED
    assert not gone_file.exists()
    assert results.get_result(kept).status == ResultStatus.COMPLETED
    assert results.download_result_data(kept, session_id) == b"k"


def test_a_file_of_the_object_store_is_imported_by_its_relative_path(
    running_grid: RunningGrid, results: ArmoniKResults, session_id: str
) -> None:
    (running_grid.objects_root / "imports").mkdir(parents=True)
    (running_grid.objects_root / "imports" / "data.bin").write_bytes(b"imported")
    result_id = results.create_results_metadata(["target"], session_id)["target"].result_id

    imported = results.import_data(session_id, [(result_id, b"imports/data.bin")])

    assert imported[result_id].status == ResultStatus.COMPLETED and imported[result_id].size == 8
    assert results.download_result_data(result_id, session_id) == b"imported"


@pytest.mark.parametrize(
    ("case", "opaque_id", "expected"),
    [
        ("unknown result", b"present.bin", grpc.StatusCode.NOT_FOUND),
        ("completed result", b"present.bin", grpc.StatusCode.FAILED_PRECONDITION),
        ("missing object", b"absent.bin", grpc.StatusCode.NOT_FOUND),
        ("escaping path", b"../x", grpc.StatusCode.INVALID_ARGUMENT),
        # Found by tests/fuzz: ENAMETOOLONG from the filesystem surfaced as INTERNAL.
        ("name too long for a file", b"\x01" * 300, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_an_import_that_cannot_complete_its_result_is_refused(
    running_grid: RunningGrid,
    results: ArmoniKResults,
    session_id: str,
    case: str,
    opaque_id: bytes,
    expected: grpc.StatusCode,
) -> None:
    (running_grid.objects_root / "present.bin").write_bytes(b"p")
    if case == "unknown result":
        result_id = "no-such-result"
    elif case == "completed result":
        result_id = results.create_results({"done": b"d"}, session_id)["done"].result_id
    else:
        result_id = results.create_results_metadata(["target"], session_id)["target"].result_id

    assert grpc_code(lambda: results.import_data(session_id, [(result_id, opaque_id)])) == expected
    if case in ("missing object", "escaping path", "name too long for a file"):
        assert results.get_result(result_id).status == ResultStatus.CREATED


def test_an_unknown_result_is_not_found(results: ArmoniKResults) -> None:
    assert grpc_code(lambda: results.get_result("no-such-result")) == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("result_id", ["x" * 60_000, "😀" * 3_000], ids=["60000-ascii", "3000-emoji"])
def test_an_unknown_huge_result_id_is_not_found_in_a_message_cut_to_fit_a_header(
    results: ArmoniKResults, result_id: str
) -> None:
    """The message echoed the whole id: beyond gRPC's 16 KiB header limit the
    client saw RESOURCE_EXHAUSTED "Stream removed" instead (found by tests/fuzz)."""
    with pytest.raises(grpc.RpcError) as refused:
        results.get_result(result_id)

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    assert "more bytes" in refused.value.details()  # type: ignore[attr-defined]


def test_owner_ids_name_the_task_expected_to_produce_each_result(
    results: ArmoniKResults, tasks: ArmoniKTasks, session_id: str
) -> None:
    created = results.create_results_metadata(["payload", "output", "loose"], session_id)
    [task] = tasks.submit_tasks(
        session_id,
        [TaskDefinition(payload_id=created["payload"].result_id, expected_output_ids=[created["output"].result_id])],
    )

    owners = results.get_owner_task_id([created["output"].result_id, created["loose"].result_id], session_id)

    assert owners == {created["output"].result_id: task.id, created["loose"].result_id: ""}
    code = grpc_code(lambda: results.get_owner_task_id(["no-such-result"], session_id))
    assert code == grpc.StatusCode.NOT_FOUND


def test_results_are_listed_with_filters_sort_and_pages(results: ArmoniKResults, session_id: str) -> None:
    results.create_results_metadata(["r0", "r1", "r2"], session_id)
    results.create_results({"r3": b"3", "r4": b"4"}, session_id, batch_size=2)
    in_session = Result.session_id == session_id

    total, completed = results.list_results(in_session & (Result.status == ResultStatus.COMPLETED))
    assert (total, sorted(r.name for r in completed)) == (2, ["r3", "r4"])

    total, ordered = results.list_results(in_session, sort_field=Result.name, sort_direction=Direction.DESC)
    assert [r.name for r in ordered] == ["r4", "r3", "r2", "r1", "r0"]

    total, page = results.list_results(in_session, page=1, page_size=2, sort_field=Result.name)
    assert (total, [r.name for r in page]) == (5, ["r2", "r3"])

    total, nothing = results.list_results(in_session, page_size=0)
    assert (total, nothing) == (5, [])

    total, named = results.list_results(in_session & Result.name.startswith("r1"))
    assert [r.name for r in named] == ["r1"]


def test_downloading_a_result_whose_object_vanished_is_not_found(
    running_grid: RunningGrid, results: ArmoniKResults, session_id: str
) -> None:
    in_a_file = b"d" * (running_grid.options.small_object_bytes + 1)  # smaller ones live in Redis
    result = results.create_results({"lost": in_a_file}, session_id)["lost"]
    (running_grid.objects_root / result.opaque_id.decode()).unlink()
    result_id = result.result_id

    assert grpc_code(lambda: results.download_result_data(result_id, session_id)) == grpc.StatusCode.NOT_FOUND


def _cut_upload(channel: grpc.Channel, session_id: str, result_id: str) -> None:
    """An upload of one chunk whose call is cancelled instead of ended."""
    sent, release = threading.Event(), threading.Event()

    def cut_stream() -> Iterator[pb.UploadResultDataRequest]:
        identifier = pb.UploadResultDataRequest.ResultIdentifier(session_id=session_id, result_id=result_id)
        yield pb.UploadResultDataRequest(id=identifier)
        yield pb.UploadResultDataRequest(data_chunk=b"the first part only")
        sent.set()
        release.wait(10)  # never ends: the client cancels instead

    call = ResultsStub(channel).UploadResultData.future(cut_stream(), timeout=10)
    assert sent.wait(10)
    call.cancel()
    release.set()
    with pytest.raises(grpc.FutureCancelledError):
        call.result()


def test_an_upload_cancelled_mid_stream_leaves_its_result_waiting_for_data(
    channel: grpc.Channel, results: ArmoniKResults, session_id: str
) -> None:
    """A cut stream ends the server's request iterator like a complete one
    (found by tests/fuzz): the upload of its first chunk must not complete
    the result. Repeated, as the cut races the server's reading."""
    for _ in range(20):
        result_id = results.create_results_metadata(["r"], session_id)["r"].result_id

        _cut_upload(channel, session_id, result_id)

        assert results.get_result(result_id).status == ResultStatus.CREATED
