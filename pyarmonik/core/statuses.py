"""Statuses and event kinds, numbered exactly as the ArmoniK API enums.

Keeping the wire numbers lets conversion be a plain ``int()`` in both
directions, and lets logs and metrics name the same states users see.
"""

from __future__ import annotations

import enum


class TaskStatus(enum.IntEnum):
    UNSPECIFIED = 0
    CREATING = 1
    SUBMITTED = 2
    DISPATCHED = 3
    COMPLETED = 4
    ERROR = 5
    TIMEOUT = 6
    CANCELLING = 7
    CANCELLED = 8
    PROCESSING = 9
    PROCESSED = 10
    RETRIED = 11
    PENDING = 12
    PAUSED = 13


FINAL_TASK_STATUSES = frozenset(
    {
        TaskStatus.COMPLETED,
        TaskStatus.ERROR,
        TaskStatus.TIMEOUT,
        TaskStatus.CANCELLED,
        TaskStatus.RETRIED,
    }
)


class ResultStatus(enum.IntEnum):
    UNSPECIFIED = 0
    CREATED = 1
    COMPLETED = 2
    ABORTED = 3
    DELETED = 4
    NOTFOUND = 127


class SessionStatus(enum.IntEnum):
    UNSPECIFIED = 0
    RUNNING = 1
    CANCELLED = 2
    PAUSED = 3
    CLOSED = 4
    PURGED = 5
    DELETED = 6


class EventKind(enum.IntEnum):
    UNSPECIFIED = 0
    NEW_TASK = 1
    TASK_STATUS_UPDATE = 2
    NEW_RESULT = 3
    RESULT_STATUS_UPDATE = 4
    RESULT_OWNER_UPDATE = 5
