"""The end of a client stream, told apart from its cancellation.

grpc.aio ends a handler's request iterator the same way whether the client
half-closed the stream (everything was sent) or cancelled the call mid-way
(the stream was cut): its receive operation fails in both cases and the
failure is swallowed. A handler that acts on what it read once the stream
ends (UploadResultData completes the result, the legacy Agent.CreateTask
submits its tasks) would then act on a truncated stream.

A cancelled call refuses any new operation, a half-closed one does not:
so once the iterator is exhausted, ``messages`` sends the (empty) initial
metadata, which the response would send anyway; if that fails, the client
is gone and the stream is refused as CANCELLED before anything is done
with it. (The cancellation itself may also arrive during that send, as
``asyncio.CancelledError``: the handler stops there all the same.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

from grpc import aio

from pyarmonik.core import errors

T = TypeVar("T")


async def messages(requests: AsyncIterator[T], context: aio.ServicerContext) -> AsyncIterator[T]:
    """The messages of a client stream; raises ``errors.Cancelled`` after the
    last one when the stream ended because the client cancelled the call."""
    async for message in requests:
        yield message
    try:
        await context.send_initial_metadata(())
    except aio.UsageError:  # metadata already sent: the call was alive then, nothing more to learn
        return
    except Exception as exc:  # the core refuses the batch: the call is cancelled
        raise errors.Cancelled("the client cancelled the call before the end of its stream") from exc
