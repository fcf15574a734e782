"""The ``ServicerContext`` of a call that did not come through gRPC's core.

Servicers and interceptors see a call through the basics of
``grpc.aio.ServicerContext`` (DESIGN §7): its metadata, its peer and the
peer's certificate, ``abort``, its code, trailing metadata. This context
gives them those for a call another transport (gRPC-Web) received, so the
same handlers serve it unchanged; what it collects (code, details,
metadata to send) is the transport's to put on the wire.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn

import grpc
from grpc import aio

Metadata = tuple[tuple[str, str | bytes], ...]


class WebContext(aio.ServicerContext):  # type: ignore[type-arg]
    def __init__(
        self,
        *,
        metadata: Metadata,
        peer: str,
        auth: Mapping[str, Sequence[bytes]],
        deadline: float | None = None,
        write: Callable[[Any], Awaitable[None]] | None = None,
    ) -> None:
        self._metadata = metadata
        self._peer = peer
        self._auth = {key: list(values) for key, values in auth.items()}
        self._deadline = deadline
        #: Sends one response message of a streaming call (set by the transport).
        self.writer = write
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self.initial_metadata: Metadata | None = None
        self._trailing: Metadata = ()
        self._done_callbacks: list[Callable[[Any], None]] = []
        self.is_done = False
        self.is_cancelled = False

    # -- what the call came with -------------------------------------------
    def invocation_metadata(self) -> Metadata:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._auth

    def peer_identities(self) -> list[bytes] | None:
        key = self.peer_identity_key()
        return self._auth.get(key) if key else None

    def peer_identity_key(self) -> str | None:
        return "x509_common_name" if "x509_common_name" in self._auth else None

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    # -- what the call answers ---------------------------------------------
    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()) -> NoReturn:
        if code == grpc.StatusCode.OK:
            raise aio.UsageError("abort() needs a status other than OK")
        self._code, self._details = code, details
        if trailing_metadata:
            self._trailing = tuple(trailing_metadata)
        raise aio.AbortError(f"{code.name}: {details}")

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        await self.abort(status.code, status.details, status.trailing_metadata)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str | None:
        return self._details

    async def send_initial_metadata(self, initial_metadata: Metadata) -> None:
        if self.initial_metadata is not None:
            raise aio.UsageError("the initial metadata was already sent")
        self.initial_metadata = tuple(initial_metadata)

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        self._trailing = tuple(trailing_metadata)

    def trailing_metadata(self) -> Metadata:
        return self._trailing

    async def write(self, message: Any) -> None:
        if self.writer is None:
            raise aio.UsageError("this call answers one message: return it")
        await self.writer(message)

    async def read(self) -> Any:
        raise aio.UsageError("gRPC-Web requests arrive whole: a handler reads them from its request iterator")

    def set_compression(self, compression: grpc.Compression) -> None:
        """Responses go uncompressed: gRPC-Web clients decompress nothing themselves."""

    def disable_next_message_compression(self) -> None:
        """Nothing is compressed."""

    # -- its end -----------------------------------------------------------
    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self._done_callbacks.append(callback)

    def cancelled(self) -> bool:
        return self.is_cancelled

    def done(self) -> bool:
        return self.is_done

    def finish(self, *, cancelled: bool) -> None:
        """The call is over (the transport says how): runs the done callbacks once."""
        if self.is_done:
            return
        self.is_done, self.is_cancelled = True, cancelled
        callbacks, self._done_callbacks = self._done_callbacks, []
        for callback in callbacks:
            callback(self)
