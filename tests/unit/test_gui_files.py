"""The Admin GUI's files on the HTTP port (pyarmonik.control_plane.gui),
driven as an ASGI application: where a build is served, its routes, the
two files the GUI asks the server for."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pyarmonik.control_plane import gui
from pyarmonik.protocol.web.cors import Cors

INDEX = '<!doctype html><html><head><base href="{base}"></head><body><app-root></app-root></body></html>'


def build(folder: Path, base: str = "/admin/{locale}/") -> Path:
    """A GUI build as ArmoniK's image holds it: one folder per language."""
    for locale in ("en", "fr"):
        (folder / locale).mkdir(parents=True)
        (folder / locale / "index.html").write_text(INDEX.format(base=base.format(locale=locale)))
        (folder / locale / "main-ABC123.js").write_text(f"console.log('{locale}')")
    return folder


def get(
    app: gui.GuiFiles, path: str, *, method: str = "GET", origin: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []
    headers = [(b"origin", origin.encode())] if origin else []
    scope = {"type": "http", "method": method, "path": path, "headers": headers}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def files(folder: Path | None, configuration: Path | None = None, cors: Cors | None = None) -> gui.GuiFiles:
    mounts = gui.mounts(folder) if folder is not None else []
    environment = gui.environment("PyArmoniK", "0.1.0", "test grid", "#1e88e5")
    return gui.GuiFiles(mounts, environment=environment, configuration=configuration, cors=cors)


def test_each_language_is_served_where_its_base_href_says(tmp_path: Path) -> None:
    app = files(build(tmp_path))

    status, headers, body = get(app, "/admin/fr/main-ABC123.js")

    assert status == 200 and body == b"console.log('fr')"
    assert headers["content-type"] == "text/javascript"


def test_a_default_build_is_served_at_the_root(tmp_path: Path) -> None:
    app = files(build(tmp_path, base="/{locale}/"))

    assert get(app, "/en/main-ABC123.js")[0] == 200
    assert get(app, "/")[1]["location"] == "/en/"


def test_the_root_redirects_to_the_english_gui(tmp_path: Path) -> None:
    status, headers, _ = get(files(build(tmp_path)), "/")

    assert status == 302 and headers["location"] == "/admin/en/"


def test_a_path_that_is_no_file_is_one_of_the_guis_routes(tmp_path: Path) -> None:
    status, headers, body = get(files(build(tmp_path)), "/admin/en/sessions/abc")

    assert status == 200 and b'<base href="/admin/en/">' in body
    assert headers["cache-control"] == "no-cache"


def test_a_missing_file_is_404_not_the_index(tmp_path: Path) -> None:
    assert get(files(build(tmp_path)), "/admin/en/chunk-MISSING.js")[0] == 404


def test_nothing_outside_the_build_is_served(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    app = files(build(tmp_path / "gui"))

    for path in ("/admin/en/../../secret.txt", "/admin/en/%2e%2e/%2e%2e/secret.txt", "/admin/en/..%2f..%2fsecret.txt"):
        status, _, body = get(app, path)
        assert status == 404 and b"secret" not in body, path


def test_head_answers_the_headers_of_get_without_the_body(tmp_path: Path) -> None:
    status, headers, body = get(files(build(tmp_path)), "/admin/en/main-ABC123.js", method="HEAD")

    assert status == 200 and body == b"" and headers["content-length"] == str(len("console.log('en')"))


def test_other_methods_are_refused(tmp_path: Path) -> None:
    assert get(files(build(tmp_path)), "/admin/en/", method="DELETE")[0] == 405


def test_the_environment_names_the_grid_for_the_guis_chip() -> None:
    status, headers, body = get(files(None), gui.ENVIRONMENT)

    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"name": "PyArmoniK", "version": "0.1.0", "description": "test grid", "color": "#1e88e5"}


def test_the_gui_configuration_is_404_unless_a_file_is_given(tmp_path: Path) -> None:
    configuration = tmp_path / "gui.json"
    configuration.write_text('{"navigation-sidebar": []}')

    assert get(files(None), gui.CONFIGURATION)[0] == 404
    assert get(files(None, configuration), gui.CONFIGURATION)[2] == b'{"navigation-sidebar": []}'


def test_without_a_gui_other_paths_say_how_to_serve_one() -> None:
    status, _, body = get(files(None), "/")

    assert status == 404 and b"--gui DIR" in body


def test_the_environment_may_be_read_from_an_allowed_origin() -> None:
    _, headers, _ = get(files(None, cors=Cors(["http://gui.example"])), gui.ENVIRONMENT, origin="http://gui.example")

    assert headers["access-control-allow-origin"] == "http://gui.example"


@pytest.mark.parametrize("content", [None, "<html>no base</html>"])
def test_a_folder_without_a_built_gui_is_refused_in_one_line(tmp_path: Path, content: str | None) -> None:
    if content is not None:
        (tmp_path / "en").mkdir()
        (tmp_path / "en" / "index.html").write_text(content)
        assert gui.mounts(tmp_path)[0].prefix == "/en/"  # no base: where the file is
        return
    with pytest.raises(ValueError, match=r"^--gui .*: no index.html in it or its subfolders"):
        gui.mounts(tmp_path)
    with pytest.raises(ValueError, match=r"^--gui .*: no such folder"):
        gui.mounts(tmp_path / "missing")
