"""What one fuzz example sends: random or mutated requests, in sequences
for client streams, and how the call is cut or closed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message
from hypothesis import strategies as st

from tests.fuzz import bodies, messages, rpcs

MAX_STREAM = 5


def random_requests(data: st.DataObject, rpc: rpcs.Rpc) -> list[Message]:
    strategy = messages.messages(rpc.request)
    if rpc.method.client_streaming:
        return data.draw(st.lists(strategy, max_size=MAX_STREAM), label="requests")
    return [data.draw(strategy, label="request")]


def mutated_requests(data: st.DataObject, rpc: rpcs.Rpc, valid: Sequence[Message], ids: Sequence[str]) -> list[Message]:
    """``valid`` with one message mutated; a client stream may also lose,
    repeat or gain a message, or have two swapped."""
    requests = list(valid)
    index = data.draw(st.integers(0, len(requests) - 1), label="mutated message")
    requests[index] = data.draw(messages.mutated(requests[index], ids), label="mutated")
    if not rpc.method.client_streaming:
        return requests
    change = data.draw(st.sampled_from(["none", "drop", "repeat", "insert", "swap"]), label="sequence change")
    at = data.draw(st.integers(0, len(requests) - 1), label="at")
    if change == "drop":
        del requests[at]
    elif change == "repeat":
        requests.insert(at, requests[at])
    elif change == "insert":
        requests.insert(at, data.draw(messages.messages(rpc.request), label="inserted"))
    elif change == "swap":
        other = data.draw(st.integers(0, len(requests) - 1), label="swapped with")
        requests[at], requests[other] = requests[other], requests[at]
    return requests


def malformed_requests(data: st.DataObject, rpc: rpcs.Rpc, valid: Sequence[Message]) -> list[bytes]:
    """The bodies of ``valid`` with one replaced by a body that does not
    parse (a client stream: the first, or one after valid messages)."""
    requests = [request.SerializeToString() for request in valid] or [b""]
    last = len(requests) - 1 if rpc.method.client_streaming else 0
    index = data.draw(st.integers(0, last), label="malformed message")
    strategy = bodies.bodies(rpc.request, requests[index]).filter(lambda body: bodies.malformed(body, rpc.request))
    requests[index] = data.draw(strategy, label="malformed")
    return requests


def call_options(data: st.DataObject, rpc: rpcs.Rpc) -> dict[str, Any]:
    """Cut a client stream mid-way (sometimes); close a waiting stream after
    a few responses (sometimes) instead of after ``OPEN_FOR``."""
    options: dict[str, Any] = {}
    if rpc.method.client_streaming and not rpc.method.server_streaming:
        options["cut"] = data.draw(st.booleans(), label="cut")
    if rpc.waits:
        options["read"] = data.draw(st.none() | st.integers(0, 3), label="read")
    return options
