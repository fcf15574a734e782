"""The session and task a log line is about, carried in a context variable.

The agent binds them around each task, so every line logged while a task is
handled names it without each call passing ids around; asyncio copies
context variables into the tasks it creates, so this follows the work.
Formatters read them from the fields ``ContextFilter`` adds to records.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar

_current: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("pyarmonik_log_context", default=())


@contextlib.contextmanager
def bind(**ids: str) -> Iterator[None]:
    token = _current.set((*_current.get(), *ids.items()))
    try:
        yield
    finally:
        _current.reset(token)


class ContextFilter(logging.Filter):
    """Adds the bound ids to each record: ``record.context`` (a dict) and
    ``record.context_text`` (`` [session_id=... task_id=...]`` or empty)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = dict(_current.get())
        record.context = context
        record.context_text = (" [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]") if context else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors in clusters."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "context", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)
