"""Headless Chromium loading a page that ``pyarmonik local --gui`` serves,
which calls ListVersions, ListSessions and GetEvents through gRPC-Web from
its own origin with the Admin GUI's client stack, as the GUI does. The
screenshot is kept in test-artifacts/ (or $PYARMONIK_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import pathlib
import subprocess
from datetime import timedelta

import grpc
from armonik.client import ArmoniKResults, ArmoniKSessions
from armonik.common import TaskOptions

from pyarmonik.settings import LocalSettings
from tests import web_clients
from tests.grid_thread import GridThread
from tests.helpers import wait_for

ARTIFACTS = pathlib.Path(
    os.environ.get("PYARMONIK_TEST_ARTIFACTS", pathlib.Path(__file__).parents[2] / "test-artifacts")
)


def build_page(folder: pathlib.Path) -> pathlib.Path:
    subprocess.run([web_clients.node(), "build-page.mjs", str(folder)], cwd=web_clients.WEB, check=True, timeout=120)
    return folder


def test_a_page_served_by_gui_calls_the_grid_through_grpc_web_in_chromium(tmp_path: pathlib.Path) -> None:
    web_clients.chromium()
    gui = build_page(tmp_path / "gui")
    grid = GridThread(LocalSettings(port=0, http_port=0, gui=gui, data_dir=tmp_path / "data", agents=0)).start()
    try:
        assert grid.local is not None
        with grpc.insecure_channel(grid.address) as channel:
            options = TaskOptions(max_duration=timedelta(seconds=60), priority=1, max_retries=2)
            session_id = ArmoniKSessions(channel).create_session(options, partition_ids=["default"])
            created = ArmoniKResults(channel).create_results_metadata(["a", "b", "c"], session_id)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        screenshot = ARTIFACTS / "grpc-web-page.png"
        url = f"http://127.0.0.1:{grid.local.http_port}/admin/en/?session={session_id}&events={len(created)}"

        loaded = web_clients.run("browser.mjs", url, str(screenshot))

        wait_for(lambda: grid.subscriber_count(session_id) == 0, timeout=30)  # the page's stream, cancelled once read
    finally:
        grid.stop()
    assert loaded["errors"] == []
    results = loaded["results"]
    assert "error" not in results, results
    assert results["versions"]["core"] == "0.1.0"
    assert session_id in results["sessions"]
    assert {e["newResult"]["resultId"] for e in results["events"]} == {r.result_id for r in created.values()}
    assert screenshot.stat().st_size > 10_000
