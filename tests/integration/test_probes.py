"""The probe endpoint as the kubelet sees it: real HTTP on a real port."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request

import pytest

from pyarmonik.processes.probes import ProbeServer


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode().strip()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode().strip()


async def test_each_path_answers_its_check_and_an_unknown_path_is_404() -> None:
    server = ProbeServer({"/livez": lambda: (True, "agent idle"), "/readyz": lambda: (False, "storage down")}, port=0)
    await server.start()
    try:
        assert await asyncio.to_thread(_get, server.port, "/livez") == (200, "agent idle")
        assert await asyncio.to_thread(_get, server.port, "/readyz") == (503, "storage down")
        status, body = await asyncio.to_thread(_get, server.port, "/nope")
        assert status == 404 and "paths: /livez, /readyz" in body
    finally:
        await server.stop()


async def test_a_check_that_raises_answers_503_with_the_error() -> None:
    def broken() -> tuple[bool, str]:
        raise RuntimeError("boom")

    server = ProbeServer({"/livez": broken}, port=0)
    await server.start()
    try:
        assert await asyncio.to_thread(_get, server.port, "/livez") == (503, "check failed: boom")
    finally:
        await server.stop()


async def test_a_probe_port_in_use_is_refused_in_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot serve probes on 127.0.0.1:{port}"):
            await ProbeServer({}, host="127.0.0.1", port=port).start()


async def test_a_page_is_served_with_its_content_type_and_a_failing_page_answers_500() -> None:
    async def metrics() -> tuple[str, bytes]:
        return "text/plain; version=0.0.4; charset=utf-8", b"pyarmonik_build_info 1.0\n"

    async def broken() -> tuple[str, bytes]:
        raise RuntimeError("store exploded")

    server = ProbeServer({"/livez": lambda: (True, "ok")}, pages={"/metrics": metrics, "/broken": broken}, port=0)
    await server.start()
    try:

        def fetch() -> tuple[int, str, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as reply:
                return reply.status, reply.headers["Content-Type"], reply.read().decode()

        assert await asyncio.to_thread(fetch) == (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            "pyarmonik_build_info 1.0\n",
        )
        assert await asyncio.to_thread(_get, server.port, "/broken") == (500, "/broken failed: store exploded")
        status, body = await asyncio.to_thread(_get, server.port, "/nope")
        assert status == 404 and body.endswith("paths: /broken, /livez, /metrics")
    finally:
        await server.stop()
