"""Identifiers of sessions, tasks and results.

ArmoniK uses GUIDs; a retried task is named after the first attempt
(``{initial_task_id}###{attempt}``) so that users can follow a task across
its retries by id alone.
"""

from __future__ import annotations

import uuid

RETRY_SEPARATOR = "###"


def new_id() -> str:
    return str(uuid.uuid4())


def retry_id(initial_task_id: str, attempt: int) -> str:
    return f"{initial_task_id}{RETRY_SEPARATOR}{attempt}"
