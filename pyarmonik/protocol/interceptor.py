"""The one place where errors become gRPC statuses.

Servicers and use cases raise ``errors.PyArmoniKError`` subclasses; this
interceptor wraps every handler (the four RPC shapes, streams included, where
an error may come mid-iteration) and aborts the call with the error's code
and message (cut to what a status header carries). Anything else is a bug of ours: INTERNAL, logged once with its
traceback. Servicers never call ``context.abort`` themselves.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc
from grpc import aio

from pyarmonik.core import errors
from pyarmonik.protocol import handlers

log = logging.getLogger(__name__)

#: Status details travel in the ``grpc-message`` header, percent-encoded
#: beyond ASCII, and clients refuse headers above 8-16 KiB: a message that
#: echoes a huge id would reach the caller as gRPC's own RESOURCE_EXHAUSTED
#: ("Stream removed") instead of its status. Longer messages are cut.
MAX_DETAILS_BYTES = 2048


def details(message: str) -> str:
    """``message``, cut to ``MAX_DETAILS_BYTES`` of UTF-8, saying how much was cut."""
    encoded = message.encode(errors="replace")
    if len(encoded) <= MAX_DETAILS_BYTES:
        return message
    kept = encoded[:MAX_DETAILS_BYTES].decode(errors="ignore")
    return f"{kept}... ({len(encoded) - len(kept.encode())} more bytes)"


async def _abort(error: BaseException, context: aio.ServicerContext, method: str) -> NoReturn:
    if isinstance(error, aio.AbortError):
        raise error
    if isinstance(error, errors.PyArmoniKError):
        log.debug("%s failed: %s %s", method, error.code, details(error.message))
        await context.abort(grpc.StatusCode[error.code], details(error.message))
    if errors.is_transient(error):
        log.warning("%s: storage unavailable: %s", method, error)
        await context.abort(grpc.StatusCode.UNAVAILABLE, details(f"storage unavailable, retry later: {error}"))
    if isinstance(error, NotImplementedError):  # a stub's default method
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented")
    log.exception("%s failed unexpectedly", method, exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, details(f"internal error: {type(error).__name__}: {error}"))
    raise AssertionError("context.abort returned")  # abort always raises


class ErrorInterceptor(handlers.WrappingInterceptor):
    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        return handlers.guarded(handler, functools.partial(_errors_to_status, method))


@contextlib.asynccontextmanager
async def _errors_to_status(method: str, request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
    """Around the whole call, a streamed response's iteration included."""
    try:
        yield request
    except Exception as error:
        await _abort(error, context, method)
