"""The workload through the official ArmoniK client, in ArmoniK's phases.

Submission: per batch, ``ArmoniKResults.create_results`` (payloads),
``create_results_metadata`` (outputs) and ``ArmoniKTasks.submit_tasks``.
Processing: until every output is COMPLETED, seen on one
``ArmoniKEvents.get_events`` stream (the call under
``wait_for_result_availability``) opened before the first submit, so each
result's availability is timed as it happens, during submission too.
Retrieval: ``ArmoniKResults.download_result_data``, one call per result,
as the official client offers it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import timedelta

import grpc
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import EventTypes, ResultStatus, TaskDefinition, TaskOptions

from bench.workload import Advance, BenchError, Run, Tracker, Workload

BATCH = 500
_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]


class Completions:
    """A thread reading the session's result events; ``available`` maps each
    awaited output to the clock when its COMPLETED event arrived."""

    def __init__(self, channel: grpc.Channel, session_id: str, advance: Advance | None = None) -> None:
        self.available: dict[str, float] = {}
        self.subscribed = threading.Event()
        self.done = threading.Event()
        self.failure: str | None = None
        self._awaited: set[str] = set()
        self._expected = -1
        self._lock = threading.Lock()
        self._advance = advance
        self._thread = threading.Thread(target=self._read, args=(channel, session_id), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def await_outputs(self, outputs: list[str]) -> None:
        with self._lock:
            self._awaited.update(outputs)

    def expect(self, count: int) -> None:
        """Submission is over: done once ``count`` outputs are available."""
        with self._lock:
            self._expected = count
            if len(self.available) >= count:
                self.done.set()

    def _read(self, channel: grpc.Channel, session_id: str) -> None:
        # Status updates only: an output's COMPLETED is one, and every
        # NEW_RESULT of the payloads and outputs would double the traffic.
        events = [EventTypes.RESULT_STATUS_UPDATE]
        try:
            ArmoniKEvents(channel).get_events(session_id, events, [self._handle])
        except grpc.RpcError as exc:
            if not self.done.is_set():
                self.failure = f"the event stream failed: {exc.code().name}: {exc.details()}"
        except Exception as exc:  # a broken stream must end the run, not hang it
            self.failure = f"the event stream failed: {exc}"
        self.done.set()

    def _handle(self, _session: str, _kind: object, event: object) -> bool:
        now = time.perf_counter()
        result_id, status = getattr(event, "result_id", ""), getattr(event, "status", None)
        self.subscribed.set()  # any event: the stream reads
        if status == ResultStatus.ABORTED and result_id in self._awaited:
            self.failure = f"result {result_id} was aborted (its task failed: see the grid's logs)"
            return True
        if status != ResultStatus.COMPLETED:
            return False
        with self._lock:
            if result_id in self._awaited and result_id not in self.available:
                self.available[result_id] = now
                if self._advance:
                    self._advance(1)
            if 0 <= self._expected <= len(self.available):
                self.done.set()
                return True
        return False


def run(address: str, system: str, workload: Workload, progress: Tracker) -> Run:
    with (
        grpc.insecure_channel(address, options=_CHANNEL_OPTIONS) as channel,
        grpc.insecure_channel(address) as stream_channel,
    ):
        options = TaskOptions(
            max_duration=timedelta(seconds=workload.timeout_s), priority=1, max_retries=1, partition_id="default"
        )
        session_id = ArmoniKSessions(channel).create_session(options, partition_ids=["default"])
        results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
        submitted = progress("submission", workload.tasks)
        completions = Completions(stream_channel, session_id, progress("processing", workload.tasks))
        completions.start()
        subscribe(results, session_id, completions, system)
        measured, outputs = submit(results, tasks, session_id, workload, completions, submitted)
        measured.system = system
        wait(completions, system, workload)
        measured.available = [completions.available[o] for o in outputs]
        measured.processing_end = max(measured.available)
        retrieve(results, session_id, outputs, measured, workload, progress("retrieval", workload.tasks))
        with contextlib.suppress(grpc.RpcError):  # rounds do not pile up in the grid
            ArmoniKSessions(channel).close_session(session_id)
        return measured


def subscribe(results: ArmoniKResults, session_id: str, completions: Completions, system: str) -> None:
    """Until the stream delivers an event, completes a probe result (created,
    then its data uploaded: a status update): a result completing before
    the stream reads would be missed."""
    deadline = time.monotonic() + 30
    while not completions.subscribed.is_set() and not completions.done.is_set():
        if time.monotonic() > deadline:
            raise BenchError(f"{system}: the event stream delivered nothing within 30 s")
        probe = results.create_results_metadata(["bench-probe"], session_id)["bench-probe"].result_id
        results.upload_result_data(probe, session_id, b"probe")
        completions.subscribed.wait(0.5)
    if completions.failure:
        raise BenchError(f"{system}: {completions.failure}")


def submit(
    results: ArmoniKResults,
    tasks: ArmoniKTasks,
    session_id: str,
    workload: Workload,
    completions: Completions,
    advance: Advance,
) -> tuple[Run, list[str]]:
    measured = Run("", workload.tasks)
    outputs: list[str] = []
    payload = workload.payload
    for offset in range(0, workload.tasks, BATCH):
        size = min(BATCH, workload.tasks - offset)
        batch_start = time.perf_counter()
        payloads = results.create_results({f"p{i}": payload for i in range(size)}, session_id, batch_size=BATCH)
        created = results.create_results_metadata([f"o{i}" for i in range(size)], session_id, batch_size=BATCH)
        batch_outputs = [created[f"o{i}"].result_id for i in range(size)]
        completions.await_outputs(batch_outputs)
        definitions = [TaskDefinition(payloads[f"p{i}"].result_id, [batch_outputs[i]]) for i in range(size)]
        tasks.submit_tasks(session_id, definitions, chunk_size=BATCH)
        outputs += batch_outputs
        measured.submitted += [batch_start] * size
        advance(size)
    measured.submission_end = time.perf_counter()
    completions.expect(len(outputs))
    return measured, outputs


def wait(completions: Completions, system: str, workload: Workload) -> None:
    if not completions.done.wait(workload.timeout_s):
        raise BenchError(
            f"{system}: only {len(completions.available)} of {workload.tasks} results available "
            f"after {workload.timeout_s:.0f} s (--timeout)"
        )
    if completions.failure:
        raise BenchError(f"{system}: {completions.failure}")


def retrieve(
    results: ArmoniKResults, session_id: str, outputs: list[str], measured: Run, workload: Workload, advance: Advance
) -> None:
    for output in outputs:
        data = results.download_result_data(output, session_id)
        if len(data) != workload.result_bytes:
            raise BenchError(f"{measured.system}: result {output} has {len(data)} bytes, not {workload.result_bytes}")
        advance(1)
    measured.retrieval_end = time.perf_counter()
