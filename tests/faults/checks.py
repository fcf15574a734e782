"""What a campaign checks once its graph is done (or has stopped moving):
the store, the values a client downloads and the events, against the graph.

An anomaly is anything the faults must not cause:
- ``stuck``/``failed``: a task neither COMPLETED nor RETRIED;
- ``broken_chain``: attempts of a task that are not RETRIED ... RETRIED
  COMPLETED under ``{initial}###{n}`` ids;
- ``lost_task``: a task the client was given an id for that the store lacks;
- ``orphan_child``/``missing_child``: a child task created by an attempt
  that did not complete, or a diagram whose completed attempt has no child;
- ``result_not_completed``, ``owner_not_completed``, ``double_completion``:
  each expected output COMPLETED by exactly one COMPLETED task, its owner;
- ``wrong_value``/``download_failed``: what the client reads back;
- ``double_completion_event``, ``missed_event``, ``aborted_event``,
  ``failed_task_event``, ``stream_outlived_break``: what the event streams
  said, and a stream that went on after a break (it may have lost events);
- ``client_error``, ``unexpected_exit``, ``fault_not_recovered``: a call
  failing with a status no fault explains, a component dying on its own, a
  component that could not be brought back;
- ``timeout_not_timed_out``, ``timeout_retried``, ``timeout_output_not_aborted``:
  a timeout fault's task (``workload.Timeouts``) that did not end TIMEOUT,
  once, with its output ABORTED.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
from armonik.client import ArmoniKResults, ArmoniKTasks
from armonik.common import Result, ResultStatus, Task, TaskStatus

from tests.faults import monitor, workload

T = TypeVar("T")
EXAMPLES = 10  # kept per anomaly kind, with the total count
#: Seconds before a break (Redis restart, its control plane killed) after
#: which a completion may be published too late for the stream it cuts.
STREAM_MARGIN = 2.0
#: A stream must end this soon after a break: Redis back and redis-py's
#: retries (about 11 s) included.
BREAK_GRACE = 20.0
STUCK = frozenset(
    {
        TaskStatus.CREATING,
        TaskStatus.PENDING,
        TaskStatus.SUBMITTED,
        TaskStatus.DISPATCHED,
        TaskStatus.PROCESSING,
        TaskStatus.PAUSED,
    }
)


@dataclass
class Anomalies:
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < EXAMPLES:
            self.examples[kind].append(detail)

    def as_dict(self) -> dict:
        return {kind: {"count": n, "examples": self.examples[kind]} for kind, n in sorted(self.counts.items())}


@dataclass
class Store:
    """The session's tasks and results as ListTasks/ListResults return them."""

    tasks: dict[str, Task]
    results: dict[str, Result]


def read_store(client: workload.Client) -> Store:
    session = client.session_id
    tasks = _all(client, "ListTasks", lambda c, page: ArmoniKTasks(c).list_tasks(Task.session_id == session, page=page))
    results = _all(
        client,
        "ListResults",
        lambda c, page: ArmoniKResults(c).list_results(
            Result.session_id == session, page=page, sort_field=Result.result_id
        ),
    )
    return Store({t.id: t for t in tasks}, {r.result_id: r for r in results})


def _all(client: workload.Client, what: str, lister: Callable[[grpc.Channel, int], tuple[int, list[T]]]) -> list[T]:
    """Every page of a list (1000 a page, the official client's default)."""
    items: list[T] = []
    page = 0
    while True:
        total, found = client.call(what, lambda c, p=page: lister(c, p))  # type: ignore[misc]
        items += found
        page += 1
        if not found or len(items) >= total:
            return items


def check(
    graph: workload.Graph,
    submitted: workload.Submitted,
    store: Store,
    values: dict[int, object],
    monitors: Iterable[monitor.Monitor],
    anomalies: Anomalies,
    breaks: dict[int, list[float]] | None = None,
) -> dict[str, object]:
    """Adds what is wrong to ``anomalies``; returns the counts seen."""
    chains = _chains(store.tasks.values())
    completed = {t.id: t for t in store.tasks.values() if t.status == TaskStatus.COMPLETED}
    _check_statuses(store, anomalies)
    _check_chains(chains, anomalies)
    children = _check_children(graph, submitted, store, chains, completed, anomalies)
    _check_outputs(graph, submitted, store, completed, children, values, anomalies)
    _check_events(submitted, store, list(monitors), breaks or {}, anomalies)
    statuses = Counter(TaskStatus(t.status).name for t in store.tasks.values())
    causes = Counter(_cause(t.status_message) for t in store.tasks.values() if t.status == TaskStatus.RETRIED)
    return {
        "retry_causes": dict(causes.most_common()),
        "tasks_in_store": len(store.tasks),
        "retried": statuses.get("RETRIED", 0),
        "tasks_retried_at_least_once": sum(1 for chain in chains.values() if len(chain) > 1),
        "most_attempts": max((len(chain) for chain in chains.values()), default=0),
        "results_in_store": len(store.results),
        **{f"status_{name.lower()}": n for name, n in sorted(statuses.items())},
    }


def _cause(message: str | None) -> str:
    """A retry's status message without its ids and numbers, to count by."""
    return re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}(###\d+)?|\d+(\.\d+)?", "#", message or "")[:90]


def _chains(tasks: Iterable[Task]) -> dict[str, list[Task]]:
    """Attempts by initial task id, first attempt first."""
    chains: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        chains[task.initial_task_id or task.id].append(task)
    for chain in chains.values():
        chain.sort(key=lambda t: len(t.retry_of_ids or []))
    return chains


def _check_statuses(store: Store, anomalies: Anomalies) -> None:
    for task in store.tasks.values():
        status = TaskStatus(task.status)
        if status in STUCK:
            since = task.acquired_at or task.submitted_at or task.created_at
            anomalies.add("stuck", f"{task.id} {status.name} since {since} (owner {task.owner_pod_id!r})")
        elif status not in (TaskStatus.COMPLETED, TaskStatus.RETRIED):
            anomalies.add("failed", f"{task.id} {status.name}: {task.status_message}")


def _check_chains(chains: dict[str, list[Task]], anomalies: Anomalies) -> None:
    for initial, chain in chains.items():
        ids = [t.id for t in chain]
        expected_ids = [initial] + [f"{initial}###{n}" for n in range(1, len(chain))]
        statuses = [TaskStatus(t.status) for t in chain]
        shape = [TaskStatus.RETRIED] * (len(chain) - 1) + [TaskStatus.COMPLETED]
        if ids != expected_ids or statuses != shape:
            anomalies.add("broken_chain", " -> ".join(f"{t.id} {s.name}" for t, s in zip(chain, statuses)))


def _check_children(
    graph: workload.Graph,
    submitted: workload.Submitted,
    store: Store,
    chains: dict[str, list[Task]],
    completed: dict[str, Task],
    anomalies: Anomalies,
) -> dict[str, Task]:
    """Children (tasks a worker submitted) by the id of the attempt that
    created them; every creator COMPLETED, every diagram with one child."""
    children: dict[str, list[Task]] = defaultdict(list)
    for initial, chain in chains.items():
        creator = chain[0].created_by
        if not creator:
            continue
        if creator not in completed:
            anomalies.add("orphan_child", f"{initial} created by {creator}, which did not complete")
        children[creator].append(chain[-1])
    for index, task_id in submitted.task_ids.items():
        if task_id not in chains:
            anomalies.add("lost_task", f"job {index}: task {task_id} is not in the store")
            continue
        last = chains[task_id][-1]
        made = len(children.get(last.id, []))
        if graph.jobs[index].tasks == 2 and made != 1:
            anomalies.add("missing_child", f"diagram {last.id} has {made} children")
    return {creator: kids[0] for creator, kids in children.items() if len(kids) == 1}


def _check_outputs(
    graph: workload.Graph,
    submitted: workload.Submitted,
    store: Store,
    completed: dict[str, Task],
    children: dict[str, Task],
    values: dict[int, object],
    anomalies: Anomalies,
) -> None:
    completers: dict[str, list[str]] = defaultdict(list)
    for task in completed.values():
        delegated = children.get(task.id)
        for output in task.expected_output_ids or []:
            if delegated is None or output not in (delegated.expected_output_ids or []):
                completers[output].append(task.id)
    for index, output in submitted.output_ids.items():
        result = store.results.get(output)
        if result is None or ResultStatus(result.status) != ResultStatus.COMPLETED:
            status = ResultStatus(result.status).name if result else "missing"
            anomalies.add("result_not_completed", f"job {index}: output {output} is {status}")
            continue
        if result.owner_task_id not in completed:
            anomalies.add("owner_not_completed", f"output {output}: owner {result.owner_task_id} is not COMPLETED")
        if len(completers[output]) != 1:
            anomalies.add("double_completion", f"output {output} completed by {completers[output]}")
        if index not in values:
            anomalies.add("download_failed", f"job {index}: output {output}")
        elif values[index] != graph.jobs[index].expected:
            anomalies.add("wrong_value", f"job {index}: {values[index]!r:.60} != {graph.jobs[index].expected!r:.60}")


def _check_events(
    submitted: workload.Submitted,
    store: Store,
    monitors: list[monitor.Monitor],
    breaks: dict[int, list[float]],
    anomalies: Anomalies,
) -> None:
    """``breaks``: by control plane index, when its streams were cut."""
    for m in monitors:
        cuts = breaks.get(m.index, [])
        _check_event_counts(m, anomalies)
        _check_missed_events(m, submitted, store, cuts, anomalies)
        _check_streams_end_at_breaks(m, cuts, anomalies)


def _check_event_counts(m: monitor.Monitor, anomalies: Anomalies) -> None:
    for result_id, times in m.result_completions.items():
        if times > 1:
            anomalies.add("double_completion_event", f"{m.address}: result {result_id} COMPLETED {times} times")
    for task_id, times in m.task_completions.items():
        if times > 1:
            anomalies.add("double_completion_event", f"{m.address}: task {task_id} COMPLETED {times} times")
    for result_id in m.aborted:
        anomalies.add("aborted_event", f"{m.address}: result {result_id} ABORTED")
    for line in m.failed_tasks:
        anomalies.add("failed_task_event", f"{m.address}: task {line}")


def _check_missed_events(
    m: monitor.Monitor, submitted: workload.Submitted, store: Store, breaks: list[float], anomalies: Anomalies
) -> None:
    """Each expected output completed while a stream was surely subscribed is on it."""
    windows = [(w, stream) for stream in m.streams if (w := stream.window(breaks, margin=STREAM_MARGIN))]
    for result_id in submitted.output_ids.values():
        result = store.results.get(result_id)
        if result is None or result.completed_at is None:
            continue
        at = result.completed_at.timestamp()
        for (start, end), stream in windows:
            if start < at < end and result_id not in stream.completed:
                anomalies.add(
                    "missed_event", f"{m.address}: result {result_id} completed at {at:.3f}, in {start:.3f}..{end:.3f}"
                )


def _check_streams_end_at_breaks(m: monitor.Monitor, breaks: list[float], anomalies: Anomalies) -> None:
    for stream in m.streams:
        if stream.first_event is None:
            continue
        cut = next((b for b in sorted(breaks) if b > stream.first_event), None)
        ended = stream.ended if stream.ended is not None else float("inf")
        if cut is not None and ended > cut + BREAK_GRACE:
            anomalies.add("stream_outlived_break", f"{m.address}: cut at {cut:.3f}, ended at {ended:.3f}")


def check_timeouts(timeouts: workload.Timeouts, anomalies: Anomalies, kills: Sequence[float] = ()) -> dict[str, object]:
    """Reads the timeout faults' session and checks it (``judge_timeouts``)."""
    client, session = timeouts.client, timeouts.session_id
    if not timeouts.submitted:
        return {"timeouts_submitted": 0}
    tasks = _all(client, "ListTasks", lambda c, page: ArmoniKTasks(c).list_tasks(Task.session_id == session, page=page))
    results = _all(
        client, "ListResults", lambda c, page: ArmoniKResults(c).list_results(Result.session_id == session, page=page)
    )
    return judge_timeouts(timeouts.submitted, tasks, results, anomalies, kills)


#: Seconds around an attempt's run within which a kill explains its failure
#: (the task's times and the injector's are read from one machine's clock).
KILL_MARGIN = 1.0


def judge_timeouts(
    submitted: list[tuple[str, str]],
    tasks: list[Task],
    results: list[Result],
    anomalies: Anomalies,
    kills: Sequence[float] = (),
) -> dict[str, object]:
    """Each timeout fault's task (id, output id) ended TIMEOUT, without a
    retry, its output ABORTED; returns the counts seen. An attempt RETRIED
    while a worker or agent was killed (``kills``: their wall times) is the
    kill's doing, not the timeout's: its next attempt is the one judged."""
    by_id, outputs = {t.id: t for t in tasks}, {r.result_id: r for r in results}
    next_attempt = {t.retry_of_ids[-1]: t for t in tasks if t.retry_of_ids}
    killed = {t.id for t in tasks if TaskStatus(t.status) == TaskStatus.RETRIED and _killed_while_running(t, kills)}
    for task_id, output_id in submitted:
        task = by_id.get(task_id)
        while task is not None and task.id in killed:
            task = next_attempt.get(task.id)
        if task is None or TaskStatus(task.status) != TaskStatus.TIMEOUT:
            status = TaskStatus(task.status).name if task else "missing"
            anomalies.add("timeout_not_timed_out", f"{task_id} is {status}: {task.status_message if task else ''}")
        result = outputs.get(output_id)
        if result is None or ResultStatus(result.status) != ResultStatus.ABORTED:
            status = ResultStatus(result.status).name if result else "missing"
            anomalies.add("timeout_output_not_aborted", f"output {output_id} of {task_id} is {status}")
    for task in tasks:
        if task.retry_of_ids and task.retry_of_ids[-1] not in killed:
            anomalies.add("timeout_retried", f"{task.id} retries {task.retry_of_ids}")
    return {
        "timeouts_killed": len(killed),
        "timeouts_submitted": len(submitted),
        "timeouts_timed_out": sum(1 for t in tasks if TaskStatus(t.status) == TaskStatus.TIMEOUT),
    }


def _killed_while_running(task: Task, kills: Sequence[float]) -> bool:
    began = task.started_at or task.created_at
    ended = task.ended_at
    if began is None or ended is None:
        return False
    start, end = began.timestamp() - KILL_MARGIN, ended.timestamp() + KILL_MARGIN
    return any(start <= kill <= end for kill in kills)
