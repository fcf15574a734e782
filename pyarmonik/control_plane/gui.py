"""ArmoniK's Admin GUI on the HTTP port: its built files, and the two
files it asks the server for.

A built GUI is one folder per language (``en/``, ``fr/``), each with an
``index.html`` whose ``<base href>`` says where it is served: ``/admin/en/``
in ArmoniK's published image, ``/en/`` in a default build. Each is served
where its base says, so either works unchanged; a path under it that is no
file is one of the GUI's own routes (``/admin/en/sessions``) and gets its
``index.html``; ``/`` redirects to the English one. The GUI then calls the
API from the same origin: no CORS, no host to configure.

``/static/environment.json`` names the grid in the GUI's header (name,
version, description, colour); ``/static/gui_configuration`` is a settings
export the GUI imports at start, 404 (which it tolerates) without one.
Both are served even without a GUI here, for a GUI served elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyarmonik.protocol.web import asgi
from pyarmonik.protocol.web.cors import Cors

ENVIRONMENT = "/static/environment.json"
CONFIGURATION = "/static/gui_configuration"
_BASE = re.compile(rb"<base\s+href=[\"']([^\"']*)[\"']", re.IGNORECASE)
_TEXT = [("content-type", "text/plain; charset=utf-8")]
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".webmanifest": "application/manifest+json"}


@dataclass(frozen=True)
class Mount:
    """A GUI build served at ``prefix`` (``/admin/en/``) from ``folder``."""

    prefix: str
    folder: Path


def mounts(folder: Path) -> list[Mount]:
    """The builds in ``folder`` (itself or up to two levels down), each where
    its ``<base href>`` says; ``ValueError`` in one line when there are none."""
    if not folder.is_dir():
        raise ValueError(f"--gui {folder}: no such folder (give the folder of a built ArmoniK Admin GUI)")
    found: dict[str, Mount] = {}
    for index in sorted([folder / "index.html", *folder.glob("*/index.html"), *folder.glob("*/*/index.html")]):
        if not index.is_file():
            continue
        base = _BASE.search(index.read_bytes()[:4096])
        prefix = base.group(1).decode() if base else "/" + index.parent.relative_to(folder).as_posix()
        prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
        found.setdefault(prefix, Mount(prefix, index.parent.resolve()))
    if not found:
        raise ValueError(f"--gui {folder}: no index.html in it or its subfolders (is it a built ArmoniK Admin GUI?)")
    return sorted(found.values(), key=lambda mount: len(mount.prefix), reverse=True)


def environment(name: str, version: str, description: str, color: str) -> bytes:
    return json.dumps({"name": name, "version": version, "description": description, "color": color}).encode()


class GuiFiles:
    """The ASGI app of the HTTP port's plain requests."""

    def __init__(
        self, builds: list[Mount], *, environment: bytes, configuration: Path | None, cors: Cors | None = None
    ) -> None:
        self._mounts, self._environment, self._configuration = builds, environment, configuration
        self._cors = cors or Cors()
        english = [m for m in builds if m.prefix.rstrip("/").endswith("/en")]
        self._home = (english or builds)[0].prefix if builds else None

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: Any) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method not in ("GET", "HEAD"):
            await asgi.respond(send, 405, [("allow", "GET, HEAD"), *_TEXT], f"{method} {path}: not served\n".encode())
            return
        status, headers, body = await self._answer(path)
        headers = [*headers, *self._cors.headers(asgi.request_headers(scope).get("origin"))]
        if method == "HEAD":
            lines = [*headers, ("content-length", str(len(body)))]
            await send({"type": "http.response.start", "status": status, "headers": _encoded(lines)})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await asgi.respond(send, status, headers, body)

    async def _answer(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        if path == ENVIRONMENT:
            return 200, [("content-type", "application/json"), ("cache-control", "no-cache")], self._environment
        if path == CONFIGURATION:
            if self._configuration is None:
                return 404, _TEXT, b"no GUI configuration on this grid (--gui-configuration FILE)\n"
            body = await asyncio.to_thread(self._configuration.read_bytes)
            return 200, [("content-type", "application/json"), ("cache-control", "no-cache")], body
        if path == "/" and self._home is not None and self._home != "/":
            return 302, [("location", self._home), *_TEXT], f"the GUI is at {self._home}\n".encode()
        for mount in self._mounts:
            if path + "/" == mount.prefix:
                return 301, [("location", mount.prefix), *_TEXT], b""
            if path.startswith(mount.prefix):
                return await _file(mount, path[len(mount.prefix) :])
        hint = "" if self._mounts else " (no GUI here: start with --gui DIR)"
        return 404, _TEXT, f"nothing at {path}{hint}\n".encode()


async def _file(mount: Mount, relative: str) -> tuple[int, list[tuple[str, str]], bytes]:
    target = (mount.folder / urllib.parse.unquote(relative)).resolve()
    if not target.is_relative_to(mount.folder):
        return 404, _TEXT, b"outside the GUI\n"
    if not target.is_file():
        if "." in relative.rsplit("/", 1)[-1]:  # a missing file, not one of the GUI's routes
            return 404, _TEXT, f"no file {relative}\n".encode()
        target = mount.folder / "index.html"
    body = await asyncio.to_thread(target.read_bytes)
    kind = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    cache = "no-cache" if target.suffix == ".html" else "public, max-age=86400"
    return 200, [("content-type", kind), ("cache-control", cache)], body


def _encoded(lines: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(key.encode(), value.encode()) for key, value in lines]
