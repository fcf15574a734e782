"""``pyarmonik local``'s HTTP port as a user meets it: on by default, a busy
port refused in one line naming it and its flag, ``off`` turning it off,
``--gui`` serving a built GUI."""

from __future__ import annotations

import pathlib
import signal
import socket

import httpx
import pytest

from pyarmonik import settings
from pyarmonik.local import children
from tests.helpers import wait_for
from tests.integration.test_cli import Output, _pyarmonik


def test_the_http_port_defaults_to_armoniks_5000_beside_grpc_on_5001(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYARMONIK_HTTP_PORT", raising=False)

    local = settings.LocalSettings()

    assert (local.http_port, local.port) == (5000, 5001)
    assert settings.LocalSettings(http_port="off").http_port is None


def test_a_busy_http_port_is_refused_in_one_line_naming_it_and_its_flag(tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _pyarmonik(
            "local", "--port", "0", "--http-port", str(port), "--data-dir", str(tmp_path), cwd=tmp_path
        )
        output, _ = process.communicate(timeout=60)

    assert process.returncode == 1, output
    assert output.strip() == (
        f"pyarmonik local: error: cannot serve gRPC-Web and the GUI on 127.0.0.1:{port}: Address already in use "
        "(choose another port with --http-port or PYARMONIK_HTTP_PORT, or 'off')"
    )
    assert not (tmp_path / "redis").exists()  # refused before anything started


def test_http_port_off_serves_grpc_only(tmp_path: pathlib.Path) -> None:
    process = _pyarmonik("local", "--port", "0", "--http-port", "off", "--data-dir", str(tmp_path), cwd=tmp_path)
    output = Output(process)
    try:
        wait_for(lambda: output.search(r"serving on 127\.0\.0\.1:\d+"), timeout=60, interval=0.1)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    text = output.text()
    assert "gRPC-Web" not in text and process.returncode == 0, text


def test_local_serves_a_built_gui_and_says_where(tmp_path: pathlib.Path) -> None:
    build = tmp_path / "gui" / "en"
    build.mkdir(parents=True)
    (build / "index.html").write_text('<html><head><base href="/admin/en/"></head><body>GUI</body></html>')
    process = _pyarmonik(
        *[
            "local",
            "--port",
            "0",
            "--http-port",
            "0",
            "--gui",
            str(tmp_path / "gui"),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=tmp_path,
    )
    output = Output(process)
    try:
        found = wait_for(lambda: output.search(r"Admin GUI at (http://127\.0\.0\.1:\d+)/"), timeout=60, interval=0.1)
        url = found[1]  # type: ignore[index]
        with httpx.Client(timeout=10, follow_redirects=True) as client:
            page = client.get(url + "/")
            route = client.get(url + "/admin/en/sessions")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    output.text()
    assert str(page.url).endswith("/admin/en/") and b"GUI" in page.content
    assert route.status_code == 200 and b"GUI" in route.content


def test_off_reaches_the_processes_local_starts() -> None:
    rendered = children.environment(settings.ControlPlaneSettings(http_port="off"))

    assert rendered["PYARMONIK_HTTP_PORT"] == "off"
