"""The lines of ``local``'s children reach its console at its own level."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from pyarmonik.local import children
from pyarmonik.settings import AgentSettings


class _Kept(logging.Handler):
    """A console's handler: no level of its own, the loggers decide."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def shown() -> Iterator[list[logging.LogRecord]]:
    """What ``local``'s console shows at its default level, INFO."""
    root, handler = logging.getLogger(), _Kept()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _relay(logger: str, level: str, message: str) -> None:
    child = children.Child("agent default-0", "agent", AgentSettings())
    child._relay_line(json.dumps({"logger": logger, "level": level, "message": message, "time": "now"}))


def test_a_childs_debug_line_is_not_shown_at_info(shown: list[logging.LogRecord]) -> None:
    _relay("pyarmonik.agent.pollster", "DEBUG", "polled nothing")
    assert [r.getMessage() for r in shown] == []


def test_a_childs_plumbing_line_is_demoted_to_debug_and_not_shown_at_info(shown: list[logging.LogRecord]) -> None:
    _relay("pyarmonik.processes.wiring", "INFO", "state, queues and events in Redis at unix:///x")
    assert [r.getMessage() for r in shown] == []


def test_a_childs_info_line_is_shown_under_its_own_logger(shown: list[logging.LogRecord]) -> None:
    _relay("pyarmonik.agent.pollster", "INFO", "agent a serving partition default")
    assert [(r.name, r.levelno, r.getMessage()) for r in shown] == [
        ("pyarmonik.agent.pollster", logging.INFO, "agent a serving partition default")
    ]
