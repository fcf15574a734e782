"""The task every peer runs: the benchmark worker's work as a plain function
(reads its payload, works ``duration_ms``, returns ``result_bytes`` bytes).
A module of its own so that worker processes import it by name."""

from __future__ import annotations

import time


def work(payload: bytes, duration_ms: float, result_bytes: int) -> bytes:
    _ = len(payload)
    if duration_ms > 0:
        time.sleep(duration_ms / 1000)
    return b"r" * result_bytes
