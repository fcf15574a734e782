"""The fault campaign's checks catch what they are there to catch: each
anomaly is planted in an otherwise clean store and found (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from armonik.common import Result, ResultStatus, Task, TaskStatus

from tests.faults import checks, monitor, workload

NOW = 1_000_000.0


def _graph() -> tuple[workload.Graph, workload.Submitted]:
    """A leaf (7), a sum of it and a second leaf (7 + 5), a diagram (1 + 2)."""
    graph = workload.Graph(
        [
            workload.Job({"do": "echo", "value": 7}, 7),
            workload.Job({"do": "echo", "value": 5}, 5),
            workload.Job({"do": "sum"}, 12, reads=(0, 1)),
            workload.Job({"do": "diagram", "a": 1, "b": 2}, 3, tasks=2),
        ]
    )
    submitted = workload.Submitted({i: f"t{i}" for i in range(4)}, {i: f"o{i}" for i in range(4)}, waves=1)
    return graph, submitted


def _task(task_id: str, output: str, status: TaskStatus = TaskStatus.COMPLETED, **fields: object) -> Task:
    initial = task_id.partition("###")[0]
    attempts = int(task_id.partition("###")[2] or 0)
    retry_of = [initial] + [f"{initial}###{n}" for n in range(1, attempts)] if attempts else []
    return Task(
        id=task_id,
        initial_task_id=initial,
        status=status,
        expected_output_ids=[output],
        retry_of_ids=retry_of,
        created_by=str(fields.pop("created_by", "")),
        **fields,  # type: ignore[arg-type]
    )


def _result(result_id: str, owner: str) -> Result:
    at = datetime.fromtimestamp(NOW, tz=UTC)
    return Result(result_id=result_id, owner_task_id=owner, status=ResultStatus.COMPLETED, completed_at=at)


def _clean() -> checks.Store:
    tasks = [
        _task("t0", "o0"),
        _task("t1", "o1", TaskStatus.RETRIED),
        _task("t1###1", "o1"),
        _task("t2", "o2"),
        _task("t3", "o3"),
        _task("c3", "o3", created_by="t3"),
    ]
    owners = {"o0": "t0", "o1": "t1###1", "o2": "t2", "o3": "c3"}
    return checks.Store({t.id: t for t in tasks}, {r: _result(r, o) for r, o in owners.items()})


VALUES = {0: 7, 1: 5, 2: 12, 3: 3}


def _anomalies(store: checks.Store, values: dict[int, object] = VALUES, monitors=(), breaks=None) -> dict[str, int]:  # type: ignore[no-untyped-def]
    graph, submitted = _graph()
    found = checks.Anomalies()
    checks.check(graph, submitted, store, values, monitors, found, breaks)
    return dict(found.counts)


def test_a_clean_store_has_no_anomaly_and_counts_its_retries() -> None:
    graph, submitted = _graph()
    found = checks.Anomalies()
    counts = checks.check(graph, submitted, _clean(), VALUES, [], found)
    assert not found.counts
    assert counts["retried"] == 1 and counts["most_attempts"] == 2


@pytest.mark.parametrize("status", [TaskStatus.SUBMITTED, TaskStatus.PROCESSING, TaskStatus.PENDING])
def test_a_task_left_unfinished_is_stuck_and_its_output_not_completed(status: TaskStatus) -> None:
    store = _clean()
    store.tasks["t2"] = _task("t2", "o2", status)
    store.results["o2"] = Result(result_id="o2", owner_task_id="t2", status=ResultStatus.CREATED)
    assert _anomalies(store, {**VALUES, 2: None}) == {
        "stuck": 1,
        "broken_chain": 1,
        "result_not_completed": 1,
    }


def test_a_retried_task_without_its_retry_is_a_broken_chain() -> None:
    store = _clean()
    del store.tasks["t1###1"]
    store.results["o1"] = _result("o1", "t1")
    assert _anomalies(store) == {"broken_chain": 1, "owner_not_completed": 1, "double_completion": 1}


def test_two_completed_attempts_of_one_output_are_a_double_completion() -> None:
    store = _clean()
    store.tasks["t1"] = _task("t1", "o1")
    assert _anomalies(store) == {"broken_chain": 1, "double_completion": 1}


def test_a_child_of_an_attempt_that_did_not_complete_is_an_orphan() -> None:
    store = _clean()
    store.tasks["c1"] = _task("c1", "o9", created_by="t1")
    assert _anomalies(store)["orphan_child"] == 1


def test_a_task_missing_from_the_store_is_lost() -> None:
    store = _clean()
    del store.tasks["t0"]
    assert _anomalies(store)["lost_task"] == 1


def test_a_wrong_or_missing_value_is_found() -> None:
    assert _anomalies(_clean(), {**VALUES, 2: 13}) == {"wrong_value": 1}
    assert _anomalies(_clean(), {0: 7, 1: 5, 3: 3}) == {"download_failed": 1}


def test_events_twice_completed_or_missed_while_subscribed_are_found() -> None:
    seen = monitor.Monitor("cp", "s")
    seen.streams.append(
        monitor.Stream(opened=NOW - 10, ended=NOW + 10, first_event=NOW - 9, completed={"o0", "o1", "o2"})
    )
    seen.result_completions.update({"o0": 2, "o1": 1, "o2": 1})
    assert _anomalies(_clean(), monitors=[seen]) == {"double_completion_event": 1, "missed_event": 1}


def test_a_completion_before_a_stream_surely_subscribed_or_after_its_break_is_not_required() -> None:
    late = monitor.Monitor("cp", "s", streams=[monitor.Stream(opened=NOW - 5, ended=NOW + 10, first_event=NOW + 1)])
    assert _anomalies(_clean(), monitors=[late]) == {}  # its first event came after the completions
    cut = monitor.Monitor("cp", "s", streams=[monitor.Stream(opened=NOW - 10, ended=NOW + 5, first_event=NOW - 9)])
    assert _anomalies(_clean(), monitors=[cut], breaks={0: [NOW + 1]}) == {}  # Redis restarted just after


def test_a_stream_that_outlives_a_break_is_found() -> None:
    deaf = monitor.Monitor("cp", "s")
    deaf.streams.append(
        monitor.Stream(opened=NOW - 10, ended=NOW + 60, first_event=NOW - 9, completed={"o0", "o1", "o2", "o3"})
    )
    assert _anomalies(_clean(), monitors=[deaf], breaks={0: [NOW - 5]}) == {"stream_outlived_break": 1}


def _timeouts(*tasks: Task, aborted: bool = True, kills: tuple[float, ...] = ()) -> dict[str, int]:
    status = ResultStatus.ABORTED if aborted else ResultStatus.COMPLETED
    found = checks.Anomalies()
    results = [Result(result_id="x0", status=status)]
    checks.judge_timeouts([("x", "x0")], list(tasks), results, found, kills)
    return dict(found.counts)


def test_a_timeout_fault_whose_task_timed_out_once_with_its_output_aborted_is_no_anomaly() -> None:
    assert _timeouts(_task("x", "x0", TaskStatus.TIMEOUT)) == {}


def test_a_timeout_fault_that_did_not_time_out_or_was_retried_is_found() -> None:
    assert _timeouts(_task("x", "x0", TaskStatus.COMPLETED), aborted=False) == {
        "timeout_not_timed_out": 1, "timeout_output_not_aborted": 1,
    }  # fmt: skip
    assert _timeouts(_task("x", "x0", TaskStatus.RETRIED), _task("x###1", "x0", TaskStatus.TIMEOUT)) == {
        "timeout_not_timed_out": 1, "timeout_retried": 1,
    }  # fmt: skip


def test_a_timeout_faults_attempt_retried_because_its_worker_was_killed_is_judged_by_its_next_attempt() -> None:
    def at(seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)

    killed = _task("x", "x0", TaskStatus.RETRIED, started_at=at(NOW), ended_at=at(NOW + 0.4))
    retry = _task("x###1", "x0", TaskStatus.TIMEOUT, started_at=at(NOW + 1), ended_at=at(NOW + 2))
    assert _timeouts(killed, retry, kills=(NOW + 0.3,)) == {}
    # a kill long before or after the attempt explains nothing
    assert _timeouts(killed, retry, kills=(NOW - 30, NOW + 30)) == {"timeout_not_timed_out": 1, "timeout_retried": 1}
    # the next attempt must still time out
    completed = _task("x###1", "x0", TaskStatus.COMPLETED, started_at=at(NOW + 1), ended_at=at(NOW + 2))
    assert _timeouts(killed, completed, aborted=False, kills=(NOW + 0.3,)) == {
        "timeout_not_timed_out": 1, "timeout_output_not_aborted": 1,
    }  # fmt: skip


def test_the_schedule_draws_timeouts_whose_max_duration_is_never_the_sessions_own() -> None:
    from tests.faults import faults

    plan = faults.schedule(checks_seed := 7, faults=200, duration=100.0, agents=3, control_planes=2)
    timeouts = [f for f in plan if f.kind is faults.Kind.TIMEOUT]
    assert timeouts and all(0.5 <= f.down <= 2.0 for f in timeouts)
    assert plan == faults.schedule(checks_seed, faults=200, duration=100.0, agents=3, control_planes=2)
