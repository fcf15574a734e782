"""The task graph a fault campaign runs, and the client that submits it
through both control planes while they and their storage fail.

The graph is built from a seed, in waves submitted over the campaign:
- leaves echo a number, or a string too big for Redis (> 4 KiB: its payload
  and its result go through S3);
- sums read two number leaves, of this wave or the previous one, so that
  dependencies cross waves, control planes and faults;
- diagram tasks create results from the worker and submit a child that
  takes over their expected output (ownership transfer, two tasks each).

Every task's expected value is known before it runs. The client retries
every call that fails UNAVAILABLE on the other control plane: a dead
control plane or a Redis restart. Result creation is not idempotent (a
retried call may leave orphan results nobody uses); SubmitTasks is, so a
retried submission never duplicates a task.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

import grpc
from armonik.client import ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import TaskDefinition, TaskOptions

T = TypeVar("T")
#: Retries are for faults, not for a permanent failure: a call still
#: unavailable after this long is reported.
RETRY_FOR_SECONDS = 120.0
RETRY_PAUSE = 0.25
BATCH = 1000
BIG = 5000  # characters: above the 4 KiB small-object threshold, so S3 holds the data
#: Retries are spent by faults, never by the graph: no task may run out of them.
OPTIONS = TaskOptions(max_duration=timedelta(seconds=300), priority=1, max_retries=50)
#: Channels reconnect within a second of a control plane coming back.
CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)]


@dataclass(frozen=True, slots=True)
class Job:
    """One client-submitted task: its payload, the indices of the earlier
    jobs whose outputs it reads, what its output must hold, how many tasks it
    makes (a diagram makes a child)."""

    payload: dict
    expected: object
    reads: tuple[int, ...] = ()
    tasks: int = 1


@dataclass
class Wave:
    leaves: list[int] = field(default_factory=list)
    dependents: list[int] = field(default_factory=list)


@dataclass
class Graph:
    jobs: list[Job] = field(default_factory=list)
    waves: list[Wave] = field(default_factory=list)

    @property
    def tasks(self) -> int:
        return sum(job.tasks for job in self.jobs)


def build_graph(seed: int, *, tasks: int, waves: int, work: float = 0.0) -> Graph:
    """About ``tasks`` tasks in ``waves`` waves: half leaves, a fifth sums,
    the rest diagrams (a parent and its child); each client task works
    ``work`` seconds, so that faults find tasks running."""
    rng = random.Random(f"{seed}:graph")
    graph = Graph()
    per_wave = max(tasks // waves, 10)
    numbers: list[int] = []  # indices of the number leaves of the previous and current wave
    while graph.tasks < tasks:
        wave = Wave()
        previous = numbers[-per_wave:]
        numbers = [*previous]
        budget = min(per_wave, tasks - graph.tasks)
        for _ in range(max(budget // 2, 1)):
            if rng.random() < 0.1:
                value: object = f"{len(graph.jobs)}:" + "x" * BIG
            else:
                value = rng.randrange(1_000_000)
                numbers.append(len(graph.jobs))
            wave.leaves.append(len(graph.jobs))
            graph.jobs.append(Job({"do": "echo", "value": value, "work": work}, value))
        while sum(graph.jobs[i].tasks for i in wave.leaves + wave.dependents) < budget:
            if rng.random() < 0.6 and len(numbers) >= 2:
                a, b = rng.sample(numbers, 2)  # two results: a task reads each of its dependencies once
                total = _number(graph, a) + _number(graph, b)
                job = Job({"do": "sum", "work": work}, total, reads=(a, b))
            else:
                a, b = rng.randrange(1000), rng.randrange(1000)
                job = Job({"do": "diagram", "a": a, "b": b, "work": work}, a + b, tasks=2)
            wave.dependents.append(len(graph.jobs))
            graph.jobs.append(job)
        graph.waves.append(wave)
    return graph


def _number(graph: Graph, index: int) -> int:
    value = graph.jobs[index].expected
    assert isinstance(value, int)
    return value


@dataclass
class CallLog:
    """What the client went through: retried calls by status, and the calls
    that failed with a status no fault explains."""

    retried: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def retry(self, code: grpc.StatusCode) -> None:
        with self.lock:
            self.retried[code.name] = self.retried.get(code.name, 0) + 1


class Client:
    """The official client on both control planes; each call goes to the
    next one in turn and moves on to the other while it is UNAVAILABLE."""

    def __init__(self, addresses: Sequence[str], calls: CallLog) -> None:
        self.channels = [grpc.insecure_channel(a, options=CHANNEL_OPTIONS) for a in addresses]
        self.calls = calls
        self._turn = 0
        self.session_id = ""

    def close(self) -> None:
        for channel in self.channels:
            channel.close()

    def call(self, what: str, action: Callable[[grpc.Channel], T]) -> T:
        self._turn += 1
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        attempt = 0
        while True:
            channel = self.channels[(self._turn + attempt) % len(self.channels)]
            attempt += 1
            try:
                return action(channel)
            except grpc.RpcError as error:
                code = error.code()  # type: ignore[attr-defined]
                if code is not grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    self.calls.failures.append(f"{what}: {code.name} {error.details()}")  # type: ignore[attr-defined]
                    raise
                self.calls.retry(code)
                time.sleep(RETRY_PAUSE)

    def create_session(self) -> str:
        self.session_id = self.call("CreateSession", lambda c: ArmoniKSessions(c).create_session(OPTIONS))
        return self.session_id

    def submit(self, jobs: Sequence[Job], reads: Sequence[Sequence[str]]) -> tuple[list[str], list[str]]:
        """Creates payloads and outputs, submits one task per job; returns
        the task ids and the output ids, in the order of ``jobs``."""
        data = {f"p{i}": json.dumps(job.payload).encode() for i, job in enumerate(jobs)}
        names = [f"o{i}" for i in range(len(jobs))]
        payloads = self.call(
            "CreateResults", lambda c: ArmoniKResults(c).create_results(data, self.session_id, batch_size=BATCH)
        )
        outputs = self.call(
            "CreateResultsMetaData",
            lambda c: ArmoniKResults(c).create_results_metadata(names, self.session_id, BATCH),
        )
        output_ids = [outputs[n].result_id for n in names]
        definitions = [
            TaskDefinition(payloads[f"p{i}"].result_id, [output_ids[i]], list(reads[i])) for i in range(len(jobs))
        ]
        submitted = self.call(
            "SubmitTasks",
            lambda c: ArmoniKTasks(c).submit_tasks(self.session_id, definitions, chunk_size=BATCH),
        )
        return [t.id for t in submitted], output_ids

    def download(self, result_id: str) -> object:
        raw = self.call(
            "DownloadResultData", lambda c: ArmoniKResults(c).download_result_data(result_id, self.session_id)
        )
        return json.loads(raw)


@dataclass
class Submitted:
    """What the client was told: per job, its task id and output id."""

    task_ids: dict[int, str] = field(default_factory=dict)
    output_ids: dict[int, str] = field(default_factory=dict)
    waves: int = 0


def submit_wave(client: Client, graph: Graph, wave: Wave, into: Submitted) -> None:
    """Leaves then their dependents (the next control plane in turn)."""
    for indices in (wave.leaves, wave.dependents):
        jobs = [graph.jobs[i] for i in indices]
        reads = [[into.output_ids[r] for r in job.reads] for job in jobs]
        task_ids, output_ids = client.submit(jobs, reads)
        into.task_ids.update(zip(indices, task_ids))
        into.output_ids.update(zip(indices, output_ids))
    into.waves += 1


#: A task that never ends by itself (its gate never opens): with a short
#: max_duration, a timeout, leaving its worker busy until it is restarted.
HANG = {"do": "wait", "gate": "/nonexistent", "timeout": 3600}
#: Above the graph's priority: a timeout task runs on the next free agent.
TIMEOUT_PRIORITY = 2


class Timeouts:
    """The timeout faults: tasks that outlive their max_duration, submitted
    by the client into a session of their own, so that the graph's checks
    see none of them. Each must end TIMEOUT, its output ABORTED, without a
    retry, and its worker must serve the graph again."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.session_id = ""
        self.submitted: list[tuple[str, str]] = []  # (task id, output id)
        self._lock = threading.Lock()

    def open(self) -> None:
        self.session_id = self.client.call("CreateSession", lambda c: ArmoniKSessions(c).create_session(OPTIONS))

    def submit(self, max_duration: float) -> str:
        """One task that times out after ``max_duration`` seconds; its id."""
        session = self.session_id
        payload = self.client.call(
            "CreateResults", lambda c: ArmoniKResults(c).create_results({"p": json.dumps(HANG).encode()}, session)
        )["p"]
        output = self.client.call(
            "CreateResultsMetaData", lambda c: ArmoniKResults(c).create_results_metadata(["o"], session)
        )["o"]
        options = TaskOptions(
            max_duration=timedelta(seconds=max_duration), priority=TIMEOUT_PRIORITY, max_retries=OPTIONS.max_retries
        )
        definition = TaskDefinition(payload.result_id, [output.result_id], [], options)
        [task] = self.client.call("SubmitTasks", lambda c: ArmoniKTasks(c).submit_tasks(session, [definition]))
        with self._lock:
            self.submitted.append((task.id, output.result_id))
        return str(task.id)
