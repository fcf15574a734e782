"""Log lines name the session and task they are about."""

from __future__ import annotations

import asyncio
import json
import logging

from pyarmonik.core import logcontext


def _record(message: str) -> logging.LogRecord:
    record = logging.LogRecord("pyarmonik.test", logging.WARNING, __file__, 1, message, None, None)
    logcontext.ContextFilter().filter(record)
    return record


def test_lines_logged_inside_a_binding_carry_its_ids_and_others_none() -> None:
    with logcontext.bind(session_id="s1", task_id="t1"):
        inside = _record("working")
    outside = _record("idle")
    assert inside.context == {"session_id": "s1", "task_id": "t1"}  # type: ignore[attr-defined]
    assert inside.context_text == " [session_id=s1 task_id=t1]"  # type: ignore[attr-defined]
    assert outside.context == {} and outside.context_text == ""  # type: ignore[attr-defined]


def test_json_lines_hold_the_message_level_and_ids() -> None:
    with logcontext.bind(task_id="t2"):
        line = json.loads(logcontext.JsonFormatter().format(_record("retried")))
    assert (line["message"], line["level"], line["task_id"]) == ("retried", "WARNING", "t2")


def test_concurrent_tasks_keep_their_own_ids() -> None:
    async def handle(task_id: str) -> str:
        with logcontext.bind(task_id=task_id):
            await asyncio.sleep(0)
            return _record("step").context["task_id"]  # type: ignore[attr-defined, no-any-return]

    async def both() -> list[str]:
        return list(await asyncio.gather(handle("a"), handle("b")))

    assert asyncio.run(both()) == ["a", "b"]
