"""A local grid's own servicers through gRPC-Web: the answers, statuses,
metrics and limits of native gRPC, from the same servicer and interceptor
instances. (Authentication through gRPC-Web: security/test_grpc_web_auth.py.)"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator

import grpc
import httpx
import pytest
from armonik.client import ArmoniKResults, ArmoniKSessions
from armonik.protogen.client.events_service_pb2_grpc import EventsStub
from armonik.protogen.client.health_checks_service_pb2_grpc import HealthChecksServiceStub
from armonik.protogen.client.partitions_service_pb2_grpc import PartitionsStub
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.client.versions_service_pb2_grpc import VersionsStub
from armonik.protogen.common import events_common_pb2 as events_pb
from armonik.protogen.common import health_checks_common_pb2 as health_pb
from armonik.protogen.common import partitions_common_pb2 as partitions_pb
from armonik.protogen.common import results_common_pb2 as results_pb
from armonik.protogen.common import sessions_common_pb2 as sessions_pb
from armonik.protogen.common import versions_common_pb2 as versions_pb
from prometheus_client.parser import text_string_to_metric_families

from pyarmonik.settings import LocalSettings
from tests import grpc_web
from tests.grid_thread import GridThread
from tests.helpers import wait_for

from .conftest import default_options

MESSAGE = 64 * 1024
CHUNK = 16 * 1024
SESSIONS = "/armonik.api.grpc.v1.sessions.Sessions/"
EVENTS = "/armonik.api.grpc.v1.events.Events/GetEvents"
DOWNLOAD = "/armonik.api.grpc.v1.results.Results/DownloadResultData"


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GridThread]:
    options = LocalSettings(
        port=0,
        http_port=0,
        metrics_port=0,
        data_dir=tmp_path_factory.mktemp("web-grid"),
        agents=0,
        max_message_size=MESSAGE,
        data_chunk_max_size=CHUNK,
        max_event_streams_per_client=1,
    )
    running = GridThread(options).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def web(grid: GridThread) -> str:
    assert grid.local is not None and grid.local.http_port
    return f"http://127.0.0.1:{grid.local.http_port}"


@pytest.fixture(scope="module")
def channel(grid: GridThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grid.address) as opened:
        yield opened


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as opened:
        yield opened


@pytest.fixture
def session_id(channel: grpc.Channel) -> str:
    return ArmoniKSessions(channel).create_session(default_options(), partition_ids=["default"])


def native_error(call: object, request: object) -> tuple[grpc.StatusCode, str]:
    try:
        call(request)  # type: ignore[operator]
    except grpc.RpcError as error:
        return error.code(), error.details()  # type: ignore[attr-defined]
    raise AssertionError("the native call succeeded")


@pytest.mark.parametrize("content_type", [grpc_web.BINARY, grpc_web.TEXT])
def test_the_grids_servicers_answer_grpc_web_as_they_answer_grpc(
    channel: grpc.Channel, web: str, client: httpx.Client, content_type: str
) -> None:
    versions, partitions = "/armonik.api.grpc.v1.versions.Versions/", "/armonik.api.grpc.v1.partitions.Partitions/"
    health = "/armonik.api.grpc.v1.health_checks.HealthChecksService/"
    calls = [
        (versions + "ListVersions", VersionsStub(channel).ListVersions, versions_pb.ListVersionsRequest()),
        (
            partitions + "GetPartition",
            PartitionsStub(channel).GetPartition,
            partitions_pb.GetPartitionRequest(id="default"),
        ),
        (health + "CheckHealth", HealthChecksServiceStub(channel).CheckHealth, health_pb.CheckHealthRequest()),
    ]
    for path, native, request in calls:
        answer = grpc_web.call(client, web, path, request, content_type=content_type)
        expected = native(request)
        assert answer.code == grpc.StatusCode.OK, (path, answer.details)
        assert answer.messages(type(expected)) == [expected], path


def test_an_error_status_is_the_one_native_grpc_gives(channel: grpc.Channel, web: str, client: httpx.Client) -> None:
    request = sessions_pb.GetSessionRequest(session_id="no-such-session")

    answer = grpc_web.call(client, web, SESSIONS + "GetSession", request)

    assert answer.trailers_only
    assert (answer.code, answer.details) == native_error(SessionsStub(channel).GetSession, request)
    assert answer.code == grpc.StatusCode.NOT_FOUND


def test_the_rpc_metrics_count_grpc_web_calls_as_native_ones(grid: GridThread, web: str, client: httpx.Client) -> None:
    labels = {"service": "armonik.api.grpc.v1.sessions.Sessions", "method": "CancelSession", "code": "NOT_FOUND"}
    before = _count(grid, labels)

    for _ in range(3):
        grpc_web.call(client, web, SESSIONS + "CancelSession", sessions_pb.CancelSessionRequest(session_id="nope"))

    assert _count(grid, labels) == before + 3


def _count(grid: GridThread, labels: dict[str, str]) -> float:
    assert grid.local is not None and grid.local.metrics_port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{grid.local.metrics_port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pyarmonik_rpc_duration_seconds_count" and labels.items() <= sample.labels.items():
                return sample.value
    return 0.0


def test_a_message_above_the_limit_is_refused_by_the_limits_interceptor(
    channel: grpc.Channel, web: str, client: httpx.Client
) -> None:
    request = sessions_pb.GetSessionRequest(session_id="x" * (MESSAGE + 100))

    answer = grpc_web.call(client, web, SESSIONS + "GetSession", request)

    assert (answer.code, answer.details) == native_error(SessionsStub(channel).GetSession, request)
    assert answer.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "--max-message-size" in answer.details


def test_the_event_stream_limit_counts_grpc_web_and_native_streams_together(
    grid: GridThread, channel: grpc.Channel, web: str, client: httpx.Client, session_id: str
) -> None:
    native = EventsStub(channel).GetEvents(events_pb.EventSubscriptionRequest(session_id=session_id))
    wait_for(lambda: grid.subscriber_count(session_id) == 1, timeout=30)

    refused = grpc_web.call(client, web, EVENTS, events_pb.EventSubscriptionRequest(session_id=session_id))
    native.cancel()
    wait_for(lambda: grid.subscriber_count(session_id) == 0, timeout=30)  # a loaded machine is slow to cancel

    assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "already has 1 event streams open" in refused.details and "--max-event-streams-per-client" in refused.details


def test_the_event_stream_replays_the_session_then_ends_when_its_client_goes_away(
    grid: GridThread, channel: grpc.Channel, web: str, client: httpx.Client, session_id: str
) -> None:
    created = ArmoniKResults(channel).create_results_metadata(["a", "b"], session_id)
    request = events_pb.EventSubscriptionRequest(session_id=session_id)

    with grpc_web.stream(client, web, EVENTS, request, content_type=grpc_web.TEXT) as (response, messages, _):
        replayed = [events_pb.EventSubscriptionResponse.FromString(next(messages)) for _ in created]
        assert grid.subscriber_count(session_id) == 1
    wait_for(lambda: grid.subscriber_count(session_id) == 0, timeout=30)  # a loaded machine is slow to cancel

    assert response.headers["content-type"] == "application/grpc-web-text+proto"
    assert {e.new_result.result_id for e in replayed} == {r.result_id for r in created.values()}


def test_result_data_downloads_through_grpc_web_chunk_by_chunk(
    channel: grpc.Channel, web: str, client: httpx.Client, session_id: str
) -> None:
    data = bytes(range(256)) * (5 * CHUNK // 256 + 7)
    results = ArmoniKResults(channel)
    result = results.create_results_metadata(["big"], session_id)["big"]
    results.upload_result_data(result.result_id, session_id, data)

    answer = grpc_web.call(
        client, web, DOWNLOAD, results_pb.DownloadResultDataRequest(session_id=session_id, result_id=result.result_id)
    )

    chunks = [m.data_chunk for m in answer.messages(results_pb.DownloadResultDataResponse)]
    assert answer.code == grpc.StatusCode.OK
    assert [len(c) for c in chunks[:-1]] == [CHUNK] * (len(chunks) - 1)
    assert hashlib.sha256(b"".join(chunks)).digest() == hashlib.sha256(data).digest()


def test_the_environment_of_the_grid_is_served_beside_grpc_web(web: str, client: httpx.Client) -> None:
    environment = json.loads(client.get(web + "/static/environment.json").content)

    assert environment["name"] == "PyArmoniK"
    assert environment["version"] == grpc_web_version(client, web)
    assert client.get(web + "/static/gui_configuration").status_code == 404


def grpc_web_version(client: httpx.Client, web: str) -> str:
    answer = grpc_web.call(
        client, web, "/armonik.api.grpc.v1.versions.Versions/ListVersions", versions_pb.ListVersionsRequest()
    )
    return str(answer.messages(versions_pb.ListVersionsResponse)[0].core)
