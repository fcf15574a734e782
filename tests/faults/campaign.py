"""A fault campaign: a seeded schedule of SIGKILLs, Redis restarts, S3
stalls and task timeouts injected into the separate-process deployment
while a task graph runs on it, then every task, result, value and event
checked.

    python -m tests.faults.campaign --seed N [--tasks 10000 --faults 120 --duration 900] [--json report.json]

Without sizes it runs the short profile (about 1,500 tasks and 20 faults in
three minutes); ``--profile long`` is at least 10,000 tasks and 100 faults.
The same seed gives the same graph and the same schedule; the report (JSON)
says what was injected when, the counts, and every anomaly (``checks``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from importlib import metadata

import grpc
from armonik.client import ArmoniKTasks
from armonik.common import Task, TaskStatus

from tests import servers
from tests.deployment import start_deployment
from tests.faults import checks, faults, monitor, workload

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Profile:
    tasks: int
    faults: int
    #: Seconds over which the waves are submitted and the faults injected.
    duration: float
    #: Bound on the wait for the graph after the last fault...
    drain: float = 300.0
    #: ... which ends sooner when no task changed status for this long.
    stall: float = 60.0
    waves: int = 0  # 0: one per 200 tasks
    agents: int = 3
    control_planes: int = 2

    @property
    def wave_count(self) -> int:
        return self.waves or max(self.tasks // 200, 2)

    @property
    def work(self) -> float:
        """Seconds each task works: enough to keep the agents about
        ``BUSY`` busy over ``duration``, so that most kills hit a running task."""
        return round(BUSY * self.agents * self.duration / self.tasks, 3)


SHORT = Profile(tasks=1500, faults=20, duration=100.0)
LONG = Profile(tasks=10_000, faults=120, duration=900.0)
PROFILES = {"short": SHORT, "long": LONG}
#: The seed CI runs (tests/faults/test_campaign.py); PYARMONIK_FAULT_SEED picks another.
CI_SEED = 20240611
#: Submission ends this far into ``duration``, so the last waves meet faults too.
SUBMISSION_SHARE = 0.8
BUSY = 0.7
POLL = 1.0


def run(root: pathlib.Path, seed: int, profile: Profile) -> dict:
    """Runs one campaign in ``root`` (logs under ``root/logs``); the report."""
    began = time.monotonic()
    deployment = start_deployment(root, control_planes=profile.control_planes, agents=profile.agents)
    addresses = [deployment.address(i) for i in range(profile.control_planes)]
    calls = workload.CallLog()
    client = workload.Client(addresses, calls)
    monitors: list[monitor.Monitor] = []
    plan = faults.schedule(
        seed,
        faults=profile.faults,
        duration=profile.duration,
        agents=profile.agents,
        control_planes=profile.control_planes,
    )
    timeouts = workload.Timeouts(client)
    injector = faults.Injector(deployment, plan, timeouts=timeouts)
    try:
        session_id = client.create_session()
        timeouts.open()
        monitors = [monitor.Monitor(address, session_id, index) for index, address in enumerate(addresses)]
        for m in monitors:
            m.start()
        time.sleep(checks.STREAM_MARGIN)  # subscribed before the first task
        graph = workload.build_graph(seed, tasks=profile.tasks, waves=profile.wave_count, work=profile.work)
        submitted = workload.Submitted()
        times: dict[str, float] = {"setup": time.monotonic() - began}
        injector.start()
        _submit_waves(client, graph, submitted, injector, profile)
        times["submission"] = time.monotonic() - injector.started
        injector.plan_done.wait(timeout=profile.duration * 3)
        times["faults"] = time.monotonic() - injector.started
        drained_at = time.monotonic()
        done = _drain(client, _expected_tasks(graph, submitted), profile)
        _drain_timeouts(timeouts, profile)
        times["drain"] = time.monotonic() - drained_at
        injector.stop()
        checked_at = time.monotonic()
        values = _download(client, submitted)
        for m in monitors:
            m.stop()
        store = checks.read_store(client)
        anomalies = checks.Anomalies()
        breaks = {m.index: [i.wall for i in injector.done if i.breaks_streams_of(m.index)] for m in monitors}
        counts = checks.check(graph, submitted, store, values, monitors, anomalies, breaks)
        kills = [i.wall for i in injector.done if i.fault.kind in (faults.Kind.WORKER, faults.Kind.AGENT)]
        counts |= checks.check_timeouts(timeouts, anomalies, kills)
        _add_process_anomalies(anomalies, injector, calls, done)
        times["check"] = time.monotonic() - checked_at
        times["total"] = time.monotonic() - began
        return _report(seed, profile, graph, submitted, injector, calls, monitors, counts, anomalies, times, root)
    finally:
        injector.stop()
        for m in monitors:
            m.stop()
        client.close()
        deployment.close()


def _submit_waves(
    client: workload.Client,
    graph: workload.Graph,
    submitted: workload.Submitted,
    injector: faults.Injector,
    profile: Profile,
) -> None:
    """Wave ``w`` at ``w / waves`` of the submission window; a call failing
    with a status no fault explains ends the submission (it is reported)."""
    spacing = profile.duration * SUBMISSION_SHARE / len(graph.waves)
    for index, wave in enumerate(graph.waves):
        delay = injector.started + index * spacing - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            workload.submit_wave(client, graph, wave, submitted)
        except grpc.RpcError:
            log.exception("wave %d could not be submitted; submission ends", index)
            return


def _expected_tasks(graph: workload.Graph, submitted: workload.Submitted) -> int:
    return sum(graph.jobs[index].tasks for index in submitted.task_ids)


def _drain(client: workload.Client, expected: int, profile: Profile) -> bool:
    """Waits for every task to complete; ``False`` when the graph stops
    moving (nothing changes status for ``profile.stall`` s) or takes longer
    than ``profile.drain``."""
    session = client.session_id
    deadline = time.monotonic() + profile.drain
    last: dict = {}
    moved = time.monotonic()
    while time.monotonic() < deadline:
        counts = client.call(
            "CountTasksByStatus", lambda c: ArmoniKTasks(c).count_tasks_by_status(Task.session_id == session)
        )
        if counts.get(TaskStatus.COMPLETED, 0) >= expected and not any(counts.get(s) for s in checks.STUCK):
            return True
        if counts != last:
            last, moved = counts, time.monotonic()
        elif time.monotonic() - moved > profile.stall:
            log.error("the graph has not moved for %s s: %s", profile.stall, counts)
            return False
        time.sleep(POLL)
    log.error("the graph did not finish within %s s of the last fault", profile.drain)
    return False


def _drain_timeouts(timeouts: workload.Timeouts, profile: Profile) -> None:
    """Waits (at most ``profile.stall``) for the timeout faults' tasks to
    end: the last may have been submitted just before the graph finished."""
    session = timeouts.session_id
    deadline = time.monotonic() + profile.stall
    while timeouts.submitted and time.monotonic() < deadline:
        counts = timeouts.client.call(
            "CountTasksByStatus", lambda c: ArmoniKTasks(c).count_tasks_by_status(Task.session_id == session)
        )
        if not any(counts.get(s) for s in checks.STUCK):
            return
        time.sleep(POLL)


def _download(client: workload.Client, submitted: workload.Submitted) -> dict[int, object]:
    values: dict[int, object] = {}
    for index, output in submitted.output_ids.items():
        with contextlib.suppress(grpc.RpcError):  # reported by the checks (download_failed) and the call log
            values[index] = client.download(output)
    return values


def _add_process_anomalies(
    anomalies: checks.Anomalies, injector: faults.Injector, calls: workload.CallLog, done: bool
) -> None:
    if not done:
        anomalies.add("graph_not_done", "the graph did not complete after the faults")
    for line in calls.failures:
        anomalies.add("client_error", line)
    for line in injector.unexpected_exits:
        anomalies.add("unexpected_exit", line)
    for injected in injector.done:
        if injected.error:
            anomalies.add("fault_not_recovered", f"{injected.fault}: {injected.error}")


def _report(
    seed: int,
    profile: Profile,
    graph: workload.Graph,
    submitted: workload.Submitted,
    injector: faults.Injector,
    calls: workload.CallLog,
    monitors: list[monitor.Monitor],
    counts: dict[str, object],
    anomalies: checks.Anomalies,
    times: dict[str, float],
    root: pathlib.Path,
) -> dict:
    by_kind = Counter(i.fault.kind.value for i in injector.done)
    return {
        "seed": seed,
        "profile": dataclasses.asdict(profile),
        "seconds": {name: round(value, 1) for name, value in times.items()},
        "faults": {
            "planned": len(injector.plan),
            "injected": len(injector.done),
            "by_kind": dict(sorted(by_kind.items())),
            "log": [
                {**dataclasses.asdict(i.fault), "kind": i.fault.kind.value, "started": i.started, "seconds": i.seconds}
                | ({"error": i.error} if i.error else {})
                for i in injector.done
            ],
        },
        "tasks": {
            "graph": graph.tasks,
            "client_submitted": len(submitted.task_ids),
            "waves_submitted": submitted.waves,
            "expected_completed": _expected_tasks(graph, submitted),
            **counts,
        },
        "client": {"retried_calls": dict(calls.retried), "failed_calls": len(calls.failures)},
        "events": [
            {
                "control_plane": m.address,
                "events": m.events,
                "subscriptions": len(m.streams),
                "results_completed": len(m.result_completions),
                "owner_updates": m.owner_updates,
            }
            for m in monitors
        ],
        "anomalies": anomalies.as_dict(),
        "anomaly_count": sum(anomalies.counts.values()),
        "versions": versions(),
        "logs": str(root / "logs"),
    }


def versions() -> dict[str, str]:
    """Of what ran: Python, the servers, the official armonik packages."""
    found = {"python": platform.python_version(), "armonik": metadata.version("armonik")}
    for name, binary, flag in (
        ("redis-server", servers.redis_server_binary(), "--version"),
        ("seaweedfs", servers.weed_binary(), "version"),
    ):
        if binary:
            out = subprocess.run([binary, flag], capture_output=True, text=True, timeout=30).stdout
            found[name] = out.strip().splitlines()[0] if out.strip() else "?"
    return found


def summary(report: dict) -> str:
    """The counts a reader wants first, in a few lines."""
    t, f = report["tasks"], report["faults"]
    lines = [
        f"seed {report['seed']}: {report['anomaly_count']} anomalies in {report['seconds']['total']} s",
        f"faults: {f['injected']} of {f['planned']} injected, by kind {f['by_kind']}",
        f"tasks: {t['client_submitted']} submitted by the client, {t['expected_completed']} expected COMPLETED, "
        f"{t['tasks_in_store']} in the store, {t['retried']} RETRIED ({t['tasks_retried_at_least_once']} tasks "
        f"retried, at most {t['most_attempts']} attempts)",
        f"retry causes: {t['retry_causes']}",
        f"timeouts: {t.get('timeouts_timed_out', 0)} of {t.get('timeouts_submitted', 0)} timed out "
        f"({t.get('timeouts_killed', 0)} attempts retried after a worker or agent kill)",
        f"client retried calls: {report['client']['retried_calls']}",
        f"seconds: {report['seconds']}",
    ]
    lines += [f"anomaly {kind}: {a['count']}, e.g. {a['examples'][:3]}" for kind, a in report["anomalies"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=CI_SEED)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="short")
    parser.add_argument("--tasks", type=int)
    parser.add_argument("--faults", type=int)
    parser.add_argument("--duration", type=float, help="seconds of submission and faults")
    parser.add_argument("--json", type=pathlib.Path, help="where to write the report (default: in the root)")
    parser.add_argument("--root", type=pathlib.Path, help="folder for logs and data (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the root even when nothing went wrong")
    args = parser.parse_args(argv)
    profile = dataclasses.replace(
        PROFILES[args.profile],
        **{k: v for k, v in {"tasks": args.tasks, "faults": args.faults, "duration": args.duration}.items() if v},
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = args.root or pathlib.Path(tempfile.mkdtemp(prefix="pyarmonik-faults-"))
    print(f"fault campaign: seed {args.seed}, {profile}, in {root}", flush=True)
    try:
        report = run(root, args.seed, profile)
    except servers.ServerUnavailable as error:
        print(f"cannot start the deployment: {error}", file=sys.stderr)
        return 2
    target = args.json or root / "report.json"
    target.write_text(json.dumps(report, indent=2))
    print(summary(report))
    print(f"report: {target}")
    if report["anomaly_count"] == 0 and not args.keep and args.json:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if report["anomaly_count"] else 0


if __name__ == "__main__":
    sys.exit(main())
