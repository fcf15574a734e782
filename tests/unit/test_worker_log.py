"""A worker's log and its failed calls, in the words a worker author reads."""

from __future__ import annotations

import io
import itertools
import logging
import pathlib

import grpc
import pytest
from armonik.worker.seqlogger import ClefLogger

from pyarmonik.agent import worker_log
from pyarmonik.agent.grpc_worker import failed_call
from pyarmonik.agent.worker_client import LAST_REPORT_EVERY, next_report
from pyarmonik.lifecycle.outcomes import Outcome


def _clef(log: str, message: str, error: BaseException | None = None, **properties: object) -> str:
    """What the official SDK's logger writes (one JSON line)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = ClefLogger(f"test-{id(stream)}")
    logger._logger.addHandler(handler)
    logger._logger.propagate = False
    getattr(logger, log)(message, **({"exc_info": error} if error else {}), **properties)
    return stream.getvalue().strip()


def _raised() -> RuntimeError:
    try:
        raise RuntimeError("an exception in the user's code\nspanning two lines")
    except RuntimeError as error:
        return error


def test_the_sdks_exception_record_reads_as_one_line_with_the_exception() -> None:
    import traceback

    error = _raised()
    line = _clef("exception", f"Failed task {''.join(traceback.format_exception(error))}", error)
    assert len(line) > 300 and '"@x"' in line
    raised = "RuntimeError: an exception in the user's code spanning two lines"
    assert worker_log.decode(line) == f"ERROR Failed task: {raised}"
    assert worker_log.last_exception(["plain", line, _clef("info", "Worker Connected")]) == raised


def test_a_clef_message_template_is_filled_from_its_properties_and_other_lines_stay() -> None:
    assert worker_log.decode(_clef("info", "Hello {name}", name="Ada")) == "INFO Hello Ada"
    assert worker_log.decode("Traceback (most recent call last):") == "Traceback (most recent call last):"
    assert worker_log.decode('{"not": "clef"}') == '{"not": "clef"}'
    assert worker_log.last_exception(["nothing", "raised here"]) is None


def test_the_tail_reads_only_what_was_written_since_a_call_began(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("before\n")
    since = worker_log.size_of(log)
    with log.open("a") as handle:
        handle.write("during\n")
    assert worker_log.tail(log, since=since) == ["during"]
    assert worker_log.tail(tmp_path / "missing.log") == [] and worker_log.size_of(None) == 0


def _failure(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@pytest.mark.parametrize(
    ("code", "details", "raised", "message"),
    [
        (
            grpc.StatusCode.INTERNAL, "Failed to serialize response!", "RuntimeError: boom",
            "the worker's processing function raised: RuntimeError: boom; log: /logs/w.log",
        ),
        (
            grpc.StatusCode.UNKNOWN, "Exception calling application: boom", None,
            "the worker's processing function raised: boom; log: /logs/w.log",
        ),
        (
            grpc.StatusCode.UNAVAILABLE, "Socket closed", None,
            "worker call failed: UNAVAILABLE: Socket closed; log: /logs/w.log",
        ),
    ],
)  # fmt: skip
def test_a_failed_call_says_what_the_worker_raised_and_where_its_log_is(
    code: grpc.StatusCode, details: str, raised: str | None, message: str
) -> None:
    reply = failed_call(_failure(code, details), timeout=5, raised=raised, log_file=pathlib.Path("/logs/w.log"))
    assert (reply.outcome, reply.message) == (Outcome.CRASH, message)


def test_without_its_log_the_message_points_at_the_workers_own_log() -> None:
    reply = failed_call(_failure(grpc.StatusCode.INTERNAL, "Failed to serialize response!"), timeout=5)
    assert reply.message == "the worker's processing function raised: an exception; see the worker's log"


def test_a_worker_that_does_not_serve_is_reported_after_5_s_then_each_time_the_wait_doubles() -> None:
    due, schedule = 0.0, []
    for _ in range(12):
        due = next_report(due)
        schedule.append(due)
    assert schedule[:6] == [5, 10, 20, 40, 80, 160]
    assert all(b - a <= LAST_REPORT_EVERY for a, b in itertools.pairwise(schedule))
