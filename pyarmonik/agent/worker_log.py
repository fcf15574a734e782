"""What a worker's log says, in one line a person reads.

The official SDK logs CLEF (Serilog's compact JSON: ``@t`` time, ``@l``
level, ``@mt`` message template, ``@x`` exception, the rest properties),
one JSON object per line; a worker's exception is one such line of a few
kilobytes, which printed raw fills a screen. ``decode`` turns a CLEF line
into ``LEVEL message: ExceptionType: message``; other lines are left as
they are. ``last_exception`` finds what the worker's processing function
raised, for the message of the task it failed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_TRACEBACK = "Traceback (most recent call last):"
_TEMPLATE_HOLE = re.compile(r"\{([^{}]+)\}")
#: Enough of a log's end for the last records of a failed call.
TAIL_BYTES = 64 * 1024


def clef(line: str) -> dict[str, object] | None:
    """The CLEF record of ``line``, ``None`` when it is not one."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "@mt" in record else None


def exception_line(traceback_text: str) -> str:
    """``Type: message`` of a formatted Python traceback (its last
    exception, a message of several lines joined), else its last line."""
    lines = [line for line in traceback_text.splitlines() if line.strip()]
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    start = frames[-1] + 1 if frames else 0
    # After the last frame header: its indented source line(s), then the exception.
    while start < len(lines) and lines[start].startswith(" "):
        start += 1
    found = " ".join(line.strip() for line in lines[start:]) if start < len(lines) else ""
    return found or (lines[-1].strip() if lines else "")


def decode(line: str) -> str:
    """A CLEF line as ``LEVEL message`` (with its exception's last line);
    any other line unchanged."""
    record = clef(line)
    if record is None:
        return line.rstrip()
    template = str(record.get("@mt", ""))
    message = _TEMPLATE_HOLE.sub(lambda hole: str(record.get(hole.group(1), hole.group(0))), template)
    first = message.splitlines()[0] if message.strip() else ""
    first = first.split(_TRACEBACK)[0].strip()  # the SDK puts the whole traceback in its message
    level = record.get("@l", "INFO")
    if "@x" in record:
        raised = exception_line(str(record["@x"]))
        first = f"{first}: {raised}" if first else raised
    return f"{level} {first}"


def tail(path: Path, *, since: int = 0, size: int = TAIL_BYTES) -> list[str]:
    """The lines of the log written after byte ``since``, at most its last
    ``size`` bytes; ``[]`` when it cannot be read."""
    try:
        with path.open("rb") as handle:
            end = handle.seek(0, 2)
            handle.seek(max(since, end - size, 0))
            return handle.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def last_exception(lines: list[str]) -> str | None:
    """What the last CLEF record with an exception says it was, ``None``
    when no line is one."""
    for line in reversed(lines):
        record = clef(line)
        if record is not None and "@x" in record:
            return exception_line(str(record["@x"]))
    return None


def size_of(path: Path | None) -> int:
    """The log's size now (where a call's own lines will start), 0 when absent."""
    if path is None:
        return 0
    try:
        return path.stat().st_size
    except OSError:
        return 0
