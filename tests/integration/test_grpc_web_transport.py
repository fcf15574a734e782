"""The gRPC-Web transport on a real HTTP server (hypercorn, HTTP/1.1, h2c and
TLS), with servicers made to exercise it: framing both ways, streaming as
messages come, statuses where gRPC-Web clients read them, cancellation,
deadlines, limits and CORS. The grid's own servicers through it:
``test_grpc_web_grid.py``; the real ``grpc-web`` client: ``test_grpc_web_node.py``."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import h2.connection
import h2.events
import httpx
import pytest
from armonik.protogen.client import events_service_pb2_grpc, results_service_pb2_grpc, versions_service_pb2_grpc
from armonik.protogen.common import events_common_pb2 as events_pb
from armonik.protogen.common import results_common_pb2 as results_pb
from armonik.protogen.common import versions_common_pb2 as versions_pb
from grpc import aio

from pyarmonik.control_plane import tls
from pyarmonik.core import errors, limits
from pyarmonik.protocol.interceptor import ErrorInterceptor
from pyarmonik.protocol.web.asgi import GrpcWebApp
from pyarmonik.protocol.web.cors import Cors
from pyarmonik.protocol.web.methods import Methods
from pyarmonik.protocol.web.server import HttpServer
from tests import grpc_web
from tests.certs import CertificateAuthority
from tests.helpers import wait_for

MAX_MESSAGE = 1024
VERSIONS = "/armonik.api.grpc.v1.versions.Versions/ListVersions"
EVENTS = "/armonik.api.grpc.v1.events.Events/GetEvents"
UPLOAD = "/armonik.api.grpc.v1.results.Results/UploadResultData"
ALLOWED_ORIGIN = "http://gui.example:4200"


class Servicer(
    versions_service_pb2_grpc.VersionsServicer,
    events_service_pb2_grpc.EventsServicer,
    results_service_pb2_grpc.ResultsServicer,
):
    """ListVersions echoes what the call came with; GetEvents behaves as its
    session id says; UploadResultData counts the messages of its stream."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.ended = threading.Event()

    async def ListVersions(self, request: Any, context: aio.ServicerContext) -> versions_pb.ListVersionsResponse:
        metadata = dict(context.invocation_metadata() or ())
        if "x-big" in metadata:
            return versions_pb.ListVersionsResponse(core="x" * (2 * MAX_MESSAGE))
        names = context.auth_context().get("x509_common_name") or [b""]
        return versions_pb.ListVersionsResponse(
            core=str(metadata.get("x-echo", "")), api=f"{context.peer()} {names[0].decode()}"
        )

    async def GetEvents(
        self, request: events_pb.EventSubscriptionRequest, context: aio.ServicerContext
    ) -> AsyncIterator[Any]:
        command = request.session_id
        try:
            if command == "empty":
                return
            if command == "error-first":
                raise errors.NotFound("session ré 100% ✓ not found\nsecond line")
            if command == "metadata":
                context.set_trailing_metadata((("x-extra", "1"), ("x-data-bin", b"\x00\xff")))
            yield events_pb.EventSubscriptionResponse(session_id="first")
            if command == "fail-after-one":
                raise errors.FailedPrecondition("stopped mid-stream")
            if command in ("flush", "forever"):
                await (self.release.wait() if command == "flush" else asyncio.Event().wait())
                yield events_pb.EventSubscriptionResponse(session_id="second")
        finally:
            self.ended.set()

    async def UploadResultData(self, request_iterator: AsyncIterator[Any], context: aio.ServicerContext) -> Any:
        chunks = [message.data_chunk async for message in request_iterator if message.HasField("data_chunk")]
        return results_pb.UploadResultDataResponse(result=results_pb.ResultRaw(name=f"{len(chunks)} chunks"))


class ServerThread:
    """The HTTP server on its own event loop, for the synchronous httpx client."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.servicer = Servicer()
        methods = Methods([ErrorInterceptor()])
        versions_service_pb2_grpc.add_VersionsServicer_to_server(self.servicer, methods)
        events_service_pb2_grpc.add_EventsServicer_to_server(self.servicer, methods)
        results_service_pb2_grpc.add_ResultsServicer_to_server(self.servicer, methods)
        app = GrpcWebApp(
            methods, max_message=limits.Limit(MAX_MESSAGE, "--max-message-size"), cors=Cors([ALLOWED_ORIGIN])
        )
        self.server = HttpServer(app, host="127.0.0.1", port=0, ssl_context=ssl_context)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.scheme = "https" if ssl_context else "http"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(1.0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.port}"

    def release(self) -> None:
        self.loop.call_soon_threadsafe(self.servicer.release.set)


@pytest.fixture
def served() -> Iterator[ServerThread]:
    with ServerThread() as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as opened:
        yield opened


@pytest.mark.parametrize("content_type", [grpc_web.BINARY, grpc_web.TEXT])
def test_a_unary_call_answers_its_message_then_an_ok_trailer_frame(
    served: ServerThread, client: httpx.Client, content_type: str
) -> None:
    answer = grpc_web.call(
        client,
        served.url,
        VERSIONS,
        versions_pb.ListVersionsRequest(),
        content_type=content_type,
        headers={"x-echo": "hello"},
    )

    assert answer.http_status == 200
    assert answer.headers["content-type"].startswith(content_type)
    assert not answer.trailers_only
    assert answer.code == grpc.StatusCode.OK
    [response] = answer.messages(versions_pb.ListVersionsResponse)
    assert response.core == "hello"
    assert response.api.startswith("ipv4:127.0.0.1:")


def test_text_mode_encodes_each_frame_on_its_own(served: ServerThread, client: httpx.Client) -> None:
    body = grpc_web.encode_request([b""], grpc_web.TEXT)
    response = client.post(served.url + EVENTS, content=body, headers=grpc_web.headers_for(grpc_web.TEXT))

    # Two frames (the message, the trailers), each its own padded base64.
    first_length = len(
        base64.b64encode(b"\0" * 5 + events_pb.EventSubscriptionResponse(session_id="first").SerializeToString())
    )
    assert (
        base64.b64decode(response.content[:first_length])[5:]
        == events_pb.EventSubscriptionResponse(session_id="first").SerializeToString()
    )
    assert base64.b64decode(response.content[first_length:])[0] == 0x80


def test_a_request_of_padded_base64_pieces_is_read_whole(served: ServerThread, client: httpx.Client) -> None:
    request = events_pb.EventSubscriptionRequest(session_id="empty").SerializeToString()
    frame = b"\0" + len(request).to_bytes(4, "big") + request
    pieces = base64.b64encode(frame[:4]) + base64.b64encode(frame[4:])  # padding in the middle

    answer = grpc_web.call(client, served.url, EVENTS, None, content_type=grpc_web.TEXT, body=pieces)

    assert answer.code == grpc.StatusCode.OK


def test_an_error_before_any_message_is_answered_trailers_only_with_its_code_and_message(
    served: ServerThread, client: httpx.Client
) -> None:
    answer = grpc_web.call(client, served.url, EVENTS, events_pb.EventSubscriptionRequest(session_id="error-first"))

    assert answer.http_status == 200
    assert answer.trailers_only
    assert answer.frames.messages == [] and answer.frames.trailers is None
    assert answer.code == grpc.StatusCode.NOT_FOUND
    assert answer.details == "session ré 100% ✓ not found\nsecond line"


def test_an_error_after_messages_comes_in_the_trailer_frame(served: ServerThread, client: httpx.Client) -> None:
    answer = grpc_web.call(client, served.url, EVENTS, events_pb.EventSubscriptionRequest(session_id="fail-after-one"))

    assert not answer.trailers_only
    assert [m.session_id for m in answer.messages(events_pb.EventSubscriptionResponse)] == ["first"]
    assert answer.code == grpc.StatusCode.FAILED_PRECONDITION
    assert answer.details == "stopped mid-stream"


def test_a_stream_without_messages_still_ends_with_a_trailer_frame(served: ServerThread, client: httpx.Client) -> None:
    answer = grpc_web.call(client, served.url, EVENTS, events_pb.EventSubscriptionRequest(session_id="empty"))

    assert not answer.trailers_only
    assert answer.frames.trailers is not None and answer.code == grpc.StatusCode.OK


def test_trailing_metadata_travels_in_the_trailer_frame(served: ServerThread, client: httpx.Client) -> None:
    answer = grpc_web.call(client, served.url, EVENTS, events_pb.EventSubscriptionRequest(session_id="metadata"))

    assert answer.frames.trailers is not None
    assert answer.frames.trailers["x-extra"] == "1"
    assert base64.b64decode(answer.frames.trailers["x-data-bin"]) == b"\x00\xff"


@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "h2c"])
def test_each_streamed_message_is_sent_as_it_comes(served: ServerThread, http2: bool) -> None:
    with (
        httpx.Client(http1=not http2, http2=http2, timeout=10) as client,
        grpc_web.stream(client, served.url, EVENTS, events_pb.EventSubscriptionRequest(session_id="flush")) as (
            response,
            messages,
            decoder,
        ),
    ):
        first = next(messages)  # the servicer waits for the release: this message was flushed alone
        served.release()
        rest = list(messages)

    assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert events_pb.EventSubscriptionResponse.FromString(first).session_id == "first"
    assert [events_pb.EventSubscriptionResponse.FromString(m).session_id for m in rest] == ["second"]
    assert decoder.frames.trailers is not None and decoder.frames.trailers["grpc-status"] == "0"


def test_a_client_that_goes_away_cancels_its_stream(served: ServerThread, client: httpx.Client) -> None:
    with grpc_web.stream(client, served.url, EVENTS, events_pb.EventSubscriptionRequest(session_id="forever")) as (
        _,
        messages,
        _,
    ):
        next(messages)
        assert not served.servicer.ended.is_set()
    # httpx closes an HTTP/1.1 connection whose answer it did not read to the end.
    wait_for(served.servicer.ended.is_set)


def test_an_http2_stream_reset_by_its_client_cancels_the_call_and_spares_the_connection(served: ServerThread) -> None:
    """What a browser does when a page cancels a call (httpx cannot reset a stream)."""
    body = grpc_web.encode_request([events_pb.EventSubscriptionRequest(session_id="forever").SerializeToString()])
    with socket.create_connection(("127.0.0.1", served.server.port)) as sock:
        connection = h2.connection.H2Connection()
        connection.initiate_connection()
        headers = [(":method", "POST"), (":scheme", "http"), (":authority", "localhost"), (":path", EVENTS)]
        connection.send_headers(1, [*headers, *grpc_web.headers_for(grpc_web.BINARY).items()])
        connection.send_data(1, body, end_stream=True)
        sock.sendall(connection.data_to_send())
        _h2_until(sock, connection, h2.events.DataReceived)
        connection.reset_stream(1)
        sock.sendall(connection.data_to_send())
        wait_for(served.servicer.ended.is_set)

        connection.send_headers(3, [*headers[:3], (":path", VERSIONS), *grpc_web.headers_for(grpc_web.BINARY).items()])
        connection.send_data(3, grpc_web.encode_request([b""]), end_stream=True)
        sock.sendall(connection.data_to_send())
        ended = _h2_until(sock, connection, h2.events.StreamEnded)
    assert ended.stream_id == 3


def _h2_until(sock: socket.socket, connection: h2.connection.H2Connection, kind: type[Any]) -> Any:
    sock.settimeout(10)
    while True:
        data = sock.recv(65536)
        assert data, "the server closed the connection"
        for event in connection.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if isinstance(event, kind):
                sock.sendall(connection.data_to_send())
                return event
        sock.sendall(connection.data_to_send())


def test_the_grpc_timeout_header_ends_a_call_with_deadline_exceeded(served: ServerThread, client: httpx.Client) -> None:
    answer = grpc_web.call(
        client,
        served.url,
        EVENTS,
        events_pb.EventSubscriptionRequest(session_id="forever"),
        headers={"grpc-timeout": "300m"},
    )

    assert [m.session_id for m in answer.messages(events_pb.EventSubscriptionResponse)] == ["first"]
    assert answer.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert served.servicer.ended.is_set()


def test_a_client_stream_is_read_from_the_frames_of_the_body(served: ServerThread, client: httpx.Client) -> None:
    chunks = [results_pb.UploadResultDataRequest(data_chunk=bytes([i]) * 10).SerializeToString() for i in range(3)]

    answer = grpc_web.call(client, served.url, UPLOAD, None, body=grpc_web.encode_request(chunks))

    assert answer.code == grpc.StatusCode.OK
    assert answer.messages(results_pb.UploadResultDataResponse)[0].result.name == "3 chunks"


def test_a_body_above_twice_the_message_limit_is_refused_naming_the_setting(
    served: ServerThread, client: httpx.Client
) -> None:
    answer = grpc_web.call(client, served.url, VERSIONS, b"\0" * (2 * MAX_MESSAGE + 1))

    assert answer.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-message-size" in answer.details


def test_a_response_above_the_message_limit_is_resource_exhausted(served: ServerThread, client: httpx.Client) -> None:
    answer = grpc_web.call(client, served.url, VERSIONS, versions_pb.ListVersionsRequest(), headers={"x-big": "1"})

    assert answer.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"limit of {MAX_MESSAGE} bytes" in answer.details


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"\0\0\0", grpc_web.BINARY, "frame header is cut"),
        (b"\0\0\0\0\x09abc", grpc_web.BINARY, "cut after 3 bytes"),
        (b"\x01\0\0\0\0", grpc_web.BINARY, "compressed messages are not supported"),
        (b"\x80\0\0\0\0", grpc_web.BINARY, "requests carry messages only"),
        (b"not base64!", grpc_web.TEXT, "is not base64"),
        (b"\0\0\0\0\x03\xff\xff\xff", grpc_web.BINARY, "Error parsing message"),
        (grpc_web.encode_request([b"", b""]), grpc_web.BINARY, "carries one message, this one 2"),
    ],
    ids=["cut-header", "cut-message", "compressed", "trailer-flag", "bad-base64", "not-protobuf", "two-messages"],
)
def test_a_malformed_request_is_invalid_argument_saying_what_is_wrong(
    served: ServerThread, client: httpx.Client, body: bytes, content_type: str, expected: str
) -> None:
    answer = grpc_web.call(client, served.url, VERSIONS, None, body=body, content_type=content_type)

    assert answer.code == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in answer.details


def test_an_unknown_method_is_unimplemented(served: ServerThread, client: httpx.Client) -> None:
    answer = grpc_web.call(client, served.url, "/armonik.api.grpc.v1.Nope/Nothing", b"")

    assert answer.trailers_only and answer.code == grpc.StatusCode.UNIMPLEMENTED


def test_requests_that_are_not_grpc_web_get_plain_http_answers(served: ServerThread, client: httpx.Client) -> None:
    assert client.get(served.url + VERSIONS, headers={"content-type": grpc_web.BINARY}).status_code == 405
    assert client.get(served.url + "/index.html").status_code == 404


def test_a_preflight_from_an_allowed_origin_is_answered_with_what_grpc_web_needs(
    served: ServerThread, client: httpx.Client
) -> None:
    preflight = client.options(
        served.url + VERSIONS,
        headers={
            "origin": ALLOWED_ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-grpc-web,x-user-agent",
        },
    )
    answer = grpc_web.call(
        client, served.url, VERSIONS, versions_pb.ListVersionsRequest(), headers={"origin": ALLOWED_ORIGIN}
    )

    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "content-type,x-grpc-web,x-user-agent"
    assert answer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "grpc-status" in answer.headers["access-control-expose-headers"]


def test_a_preflight_from_another_origin_is_refused(served: ServerThread, client: httpx.Client) -> None:
    preflight = client.options(
        served.url + VERSIONS, headers={"origin": "http://elsewhere.example", "access-control-request-method": "POST"}
    )
    answer = grpc_web.call(
        client, served.url, VERSIONS, versions_pb.ListVersionsRequest(), headers={"origin": "http://elsewhere.example"}
    )

    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in answer.headers


def test_a_busy_port_is_refused_in_one_line_naming_it() -> None:
    async def main() -> str:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            server = HttpServer(
                GrpcWebApp(Methods(), max_message=limits.Limit(1, "")),
                host="127.0.0.1",
                port=port,
                what="gRPC-Web",
                hint="choose another port with --http-port",
            )
            with pytest.raises(OSError) as refused:
                await server.start()
            return f"{port} {refused.value}"

    port, message = asyncio.run(main()).split(" ", 1)
    assert (
        message
        == f"cannot serve gRPC-Web on 127.0.0.1:{port}: Address already in use (choose another port with --http-port)"
    )


# -- TLS -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


def _tls_files(ca: CertificateAuthority, folder: Path, *, client_ca: bool) -> tls.TlsFiles:
    cert, key = ca.issue("pyarmonik", server=True).write(folder, "server")
    return tls.TlsFiles(cert, key, ca.write(folder, "ca") if client_ca else None)


def test_over_tls_the_port_speaks_http2_by_alpn(ca: CertificateAuthority, tmp_path: Path) -> None:
    files = _tls_files(ca, tmp_path, client_ca=False)
    with (
        ServerThread(tls.ssl_context(files)) as served,
        httpx.Client(
            http2=True, verify=ssl.create_default_context(cafile=str(ca.write(tmp_path, "ca"))), timeout=10
        ) as client,
    ):
        answer = grpc_web.call(client, served.url, VERSIONS, versions_pb.ListVersionsRequest())

    assert answer.http_version == "HTTP/2"
    assert answer.code == grpc.StatusCode.OK


def test_with_a_client_ca_the_callers_certificate_reaches_the_servicer(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    files = _tls_files(ca, tmp_path, client_ca=True)
    cert, key = ca.issue("alice").write(tmp_path, "alice")
    context = ssl.create_default_context(cafile=str(files.client_ca))
    context.load_cert_chain(cert, key)
    with ServerThread(tls.ssl_context(files)) as served, httpx.Client(verify=context, timeout=10) as client:
        answer = grpc_web.call(client, served.url, VERSIONS, versions_pb.ListVersionsRequest())

    assert answer.messages(versions_pb.ListVersionsResponse)[0].api.endswith(" alice")


def test_a_rotated_certificate_is_served_to_new_connections(ca: CertificateAuthority, tmp_path: Path) -> None:
    files = _tls_files(ca, tmp_path, client_ca=False)
    with ServerThread(tls.ssl_context(files)) as served:
        before = _served_certificate(served.server.port)
        renewed = ca.issue("pyarmonik", server=True)
        renewed.write(tmp_path, "server")
        after = _served_certificate(served.server.port)

    assert hashlib.sha256(before).hexdigest() != hashlib.sha256(after).hexdigest()
    assert ssl.DER_cert_to_PEM_cert(after).strip() == renewed.cert_pem.decode().strip()


def _served_certificate(port: int) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port)) as raw, context.wrap_socket(raw) as wrapped:  # no SNI: an IP
        der = wrapped.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_connections_are_accepted_with_tcp_nodelay(served: ServerThread) -> None:
    """asyncio sets TCP_NODELAY on accepted sockets only when the listening
    socket names IPPROTO_TCP; without it each answer of a few frames waited
    for the client's delayed ACK: 40 ms per call (measured, bench_dashboard)."""
    assert served.server._server is not None
    [listening] = served.server._server.sockets
    assert listening.proto == socket.IPPROTO_TCP
