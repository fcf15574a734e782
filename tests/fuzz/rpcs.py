"""Every RPC the fuzzer calls, read from the official stubs' descriptors, and
one way to call any of them: unary, streamed either way, cut mid-stream.

A call never hangs the run: each has a deadline (``CALL_TIMEOUT``); streams
that legitimately stay open (GetEvents, WatchResults) are closed by the
caller after ``OPEN_FOR`` seconds, and a client stream is cut by cancelling
the call after N messages while its request iterator is held open.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from armonik.protogen.client import (
    applications_service_pb2,
    applications_service_pb2_grpc,
    auth_service_pb2,
    auth_service_pb2_grpc,
    events_service_pb2,
    events_service_pb2_grpc,
    health_checks_service_pb2,
    health_checks_service_pb2_grpc,
    partitions_service_pb2,
    partitions_service_pb2_grpc,
    results_service_pb2,
    results_service_pb2_grpc,
    sessions_service_pb2,
    sessions_service_pb2_grpc,
    submitter_service_pb2,
    submitter_service_pb2_grpc,
    tasks_service_pb2,
    tasks_service_pb2_grpc,
    versions_service_pb2,
    versions_service_pb2_grpc,
)
from armonik.protogen.worker import agent_service_pb2, agent_service_pb2_grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from google.protobuf.message import Message

#: Deadline of every call: a call still running after it is a hang.
CALL_TIMEOUT = 5.0
#: How long a stream that waits for changes (GetEvents, WatchResults) stays open.
OPEN_FOR = 0.2
#: Streams that stay open until the client closes them.
WAITING = frozenset({"Events.GetEvents", "Results.WatchResults", "Submitter.WatchResults"})

CLIENT_API = (
    (sessions_service_pb2, sessions_service_pb2_grpc),
    (results_service_pb2, results_service_pb2_grpc),
    (tasks_service_pb2, tasks_service_pb2_grpc),
    (events_service_pb2, events_service_pb2_grpc),
    (partitions_service_pb2, partitions_service_pb2_grpc),
    (applications_service_pb2, applications_service_pb2_grpc),
    (versions_service_pb2, versions_service_pb2_grpc),
    (health_checks_service_pb2, health_checks_service_pb2_grpc),
    (auth_service_pb2, auth_service_pb2_grpc),
    (submitter_service_pb2, submitter_service_pb2_grpc),
)
AGENT_API = ((agent_service_pb2, agent_service_pb2_grpc),)


@dataclass(frozen=True)
class Rpc:
    service: str
    method: MethodDescriptor
    stub_class: type

    @property
    def name(self) -> str:
        return f"{self.service}.{self.method.name}"

    @property
    def request(self) -> Descriptor:
        return self.method.input_type

    @property
    def waits(self) -> bool:
        return self.name in WAITING

    def __str__(self) -> str:  # the pytest id
        return self.name


def rpcs(modules: Sequence[tuple[Any, Any]]) -> list[Rpc]:
    return [
        Rpc(service.name, method, getattr(grpc_module, f"{service.name}Stub"))
        for pb2, grpc_module in modules
        for service in pb2.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]


@dataclass
class Outcome:
    """How a call ended. ``closed`` when the caller ended it: a waiting
    stream closed after ``OPEN_FOR``, or a client stream cut mid-way."""

    code: grpc.StatusCode
    details: str = ""
    responses: list[Message] = field(default_factory=list)
    closed: str = ""

    @property
    def label(self) -> str:
        return self.closed or self.code.name


def _ended(error: grpc.RpcError, responses: list[Message] | None = None, closed: str = "") -> Outcome:
    code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
    details: str = error.details() or ""  # type: ignore[attr-defined]
    if closed and code is grpc.StatusCode.CANCELLED:
        return Outcome(code, details, responses or [], closed)
    return Outcome(code, details, responses or [])


class _HeldOpen:
    """A request iterator that yields its messages, then stays open until
    released: the server sees neither the end of the stream nor more data."""

    def __init__(self, requests: Sequence[Message | bytes]) -> None:
        self._requests = list(requests)
        self.sent = threading.Event()
        self.release = threading.Event()

    def __iter__(self) -> Iterator[Message | bytes]:
        yield from self._requests
        self.sent.set()
        self.release.wait(CALL_TIMEOUT)


def _raw_method(channel: grpc.Channel, rpc: Rpc) -> Any:
    """``rpc`` sending bodies as given: bytes, valid protobuf or not."""
    shape = ("stream" if rpc.method.client_streaming else "unary") + "_"
    shape += "stream" if rpc.method.server_streaming else "unary"
    response = message_factory.GetMessageClass(rpc.method.output_type)
    path = f"/{rpc.method.containing_service.full_name}/{rpc.method.name}"
    return getattr(channel, shape)(path, request_serializer=None, response_deserializer=response.FromString)


def call(
    channel: grpc.Channel,
    rpc: Rpc,
    requests: Sequence[Message | bytes],
    *,
    cut: bool = False,
    read: int | None = None,
    raw: bool = False,
) -> Outcome:
    """Calls ``rpc`` with ``requests`` (one for a unary request; any number,
    possibly none, for a client stream); ``cut`` cancels a client stream
    after its messages were sent, before it ends; ``read`` closes a waiting
    stream after that many responses (else after ``OPEN_FOR``). With
    ``raw``, ``requests`` are bodies sent as they are."""
    method = _raw_method(channel, rpc) if raw else getattr(rpc.stub_class(channel), rpc.method.name)
    streaming_in, streaming_out = rpc.method.client_streaming, rpc.method.server_streaming
    if not streaming_in:
        [request] = requests
        return _read(method(request, timeout=CALL_TIMEOUT), rpc, read) if streaming_out else _unary(method, request)
    if rpc.waits or cut:
        held = _HeldOpen(requests)
        try:
            if streaming_out:
                return _read(method(iter(held), timeout=CALL_TIMEOUT), rpc, read)
            return _cut(method.future(iter(held), timeout=CALL_TIMEOUT), held)
        finally:
            held.release.set()
    if streaming_out:
        return _read(method(iter(requests), timeout=CALL_TIMEOUT), rpc, read)
    return _unary(method, iter(requests))


def _unary(method: Any, request: Any) -> Outcome:
    try:
        return Outcome(grpc.StatusCode.OK, responses=[method(request, timeout=CALL_TIMEOUT)])
    except grpc.RpcError as error:
        return _ended(error)


def _read(stream: Any, rpc: Rpc, limit: int | None) -> Outcome:
    """Every response of a server stream; a waiting one is closed after
    ``limit`` responses or ``OPEN_FOR`` seconds."""
    closer = threading.Timer(OPEN_FOR, stream.cancel) if rpc.waits else None
    if closer is not None:
        closer.start()
    responses: list[Message] = []
    try:
        for response in stream:
            responses.append(response)
            if rpc.waits and limit is not None and len(responses) >= limit:
                stream.cancel()
        return Outcome(grpc.StatusCode.OK, responses=responses)
    except grpc.RpcError as error:
        return _ended(error, responses, "OPEN" if rpc.waits else "")
    finally:
        if closer is not None:
            closer.cancel()


def _cut(future: Any, held: _HeldOpen) -> Outcome:
    """Cancels a client stream once its messages are sent, unless the server
    answered first."""
    future.add_done_callback(lambda _: held.sent.set())  # answered before reading them all
    held.sent.wait(CALL_TIMEOUT)
    try:
        return Outcome(grpc.StatusCode.OK, responses=[future.result(timeout=0.05)])
    except grpc.FutureTimeoutError:
        future.cancel()
    except grpc.RpcError as error:
        return _ended(error)
    try:
        future.result()
    except grpc.FutureCancelledError:
        return Outcome(grpc.StatusCode.CANCELLED, closed="CUT")
    except grpc.RpcError as error:
        return _ended(error, closed="CUT")
    return Outcome(grpc.StatusCode.OK)
