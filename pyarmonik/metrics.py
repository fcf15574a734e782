"""The Prometheus metrics of one grid; the only module that imports
``prometheus_client`` (an import-linter contract keeps it so).

Why one registry per ``Grid`` rather than the library's global one: every
service built on a grid (its control plane, its agents, the reaper beside
them) updates the grid's ``Metrics``, so ``pyarmonik local`` serves one
``/metrics`` for the whole local grid, and two grids in one process (tests)
never add up each other's counts.

Two kinds of metrics:
- events, counted where they happen: submissions (``lifecycle.tasks``,
  ``lifecycle.processing``), the outcome and duration of every attempt
  (``lifecycle.outcomes.settle``, the one place attempts end), RPCs (the
  ``protocol.rpc_metrics`` interceptor of both gRPC servers);
- levels, read when scraped by the refreshers registered with ``on_scrape``:
  the store's counters (``lifecycle.observed``: never a scan of records) and
  the agents' states.

Names are ``pyarmonik_<noun>_<unit>``; values go in labels, never in names.

``pyarmonik local`` runs its control plane and agents as separate
processes, each with its registry; its one ``/metrics`` is their pages
merged (``merged``).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

import pyarmonik
from pyarmonik.core.fairshare import EVERY_KEY, FairShare, KeyLoad
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import ResultStatus, TaskStatus

# Without this every counter and histogram would also expose a ``*_created``
# series (its creation time), which no dashboard of ours reads.
prometheus_client.disable_created_metrics()

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

#: Task attempts last from milliseconds to hours.
TASK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
#: Unary RPCs take milliseconds; event streams last as long as their client listens.
RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

#: Fairness keys reported one by one per partition (the most loaded); the
#: others are summed: with 10,000 sessions, one series per key would be
#: 10,000 series per scrape.
TOP_KEYS = 10

#: The statuses a store can hold (UNSPECIFIED and the like are never written).
TASK_STATUSES = [s for s in TaskStatus if s not in (TaskStatus.UNSPECIFIED, TaskStatus.PROCESSED)]
RESULT_STATUSES = [ResultStatus.CREATED, ResultStatus.COMPLETED, ResultStatus.ABORTED, ResultStatus.DELETED]

Refresh = Callable[[], Awaitable[None]]


class Metrics:
    """Every metric of one grid, on its own registry."""

    def __init__(self, *, version: str = pyarmonik.__version__) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._refreshers: dict[str, Refresh] = {}
        self._agents: list[tuple[str, Callable[[], str], Sequence[str]]] = []
        Gauge("pyarmonik_build_info", "PyArmoniK version serving these metrics", ["version"], registry=registry).labels(
            version
        ).set(1)
        self.tasks_submitted = Counter(
            "pyarmonik_tasks_submitted_total",
            "Tasks submitted, by clients or by running tasks (retries are attempts, not submissions)",
            ["partition"],
            registry=registry,
        )
        self.tasks_completed = Counter(
            "pyarmonik_tasks_completed_total",
            "Attempts at tasks that ended, by outcome (ok: the task COMPLETED)",
            ["partition", "outcome"],
            registry=registry,
        )
        self.task_duration = Histogram(
            "pyarmonik_task_duration_seconds",
            "Time from the start of an attempt (or its dispatch, if it never started) to its outcome",
            ["partition", "outcome"],
            buckets=TASK_BUCKETS,
            registry=registry,
        )
        self.rpc_duration = Histogram(
            "pyarmonik_rpc_duration_seconds",
            "gRPC calls served, by service, method and status code (streams: until they end)",
            ["service", "method", "code"],
            buckets=RPC_BUCKETS,
            registry=registry,
        )
        self.grid_tasks = Gauge(
            "pyarmonik_grid_tasks",
            "Tasks in the grid's store, by partition and status",
            ["partition", "status"],
            registry=registry,
        )
        self.grid_results = Gauge(
            "pyarmonik_grid_results", "Results in the grid's store, by status", ["status"], registry=registry
        )
        self.queue_tasks = Gauge(
            "pyarmonik_queue_tasks",
            "Tasks of a partition's queue: state=queued waiting for an agent, state=leased held by one "
            "(dispatched or processing); their sum is the autoscaling signal",
            ["partition", "state"],
            registry=registry,
        )
        self.fair_share_info = Gauge(
            "pyarmonik_fair_share_info",
            "How a partition shares its agents: mode (fair, fifo) and key (session, application, user)",
            ["partition", "mode", "key"],
            registry=registry,
        )
        self.fair_share_weight = Gauge(
            "pyarmonik_fair_share_weight_ratio",
            "A partition's configured weights, per key (key * is every other key)",
            ["partition", "key"],
            registry=registry,
        )
        self.fair_share_cap = Gauge(
            "pyarmonik_fair_share_cap_tasks",
            "A partition's configured caps of running tasks, per key (key * is every key not named)",
            ["partition", "key"],
            registry=registry,
        )
        self.fair_share_tasks = Gauge(
            "pyarmonik_fair_share_tasks",
            f"Tasks of a partition's most loaded fairness keys (at most {TOP_KEYS}), queued or running",
            ["partition", "key", "state"],
            registry=registry,
        )
        self.fair_share_other_tasks = Gauge(
            "pyarmonik_fair_share_other_tasks",
            "Tasks of a partition's other fairness keys, summed, queued or running",
            ["partition", "state"],
            registry=registry,
        )
        self.fair_share_keys = Gauge(
            "pyarmonik_fair_share_keys",
            "Fairness keys of a partition with queued tasks, with running tasks, and waiting at their cap",
            ["partition", "state"],
            registry=registry,
        )
        self.agents = Gauge(
            "pyarmonik_partition_agents",
            "Agents served here, by partition and state (starting, idle, busy, draining, stopped)",
            ["partition", "state"],
            registry=registry,
        )
        self.scrape_errors = Counter(
            "pyarmonik_scrape_errors_total",
            "Scrapes whose store read failed (the store's gauges are then left out)",
            registry=registry,
        )
        self.on_scrape(self._refresh_agents, name="agents")

    # -- events -------------------------------------------------------------
    def count_submitted(self, tasks: Iterable[Task]) -> None:
        for task in tasks:
            self.tasks_submitted.labels(task.options.partition_id).inc()

    def settled(self, task: Task, outcome: enum.Enum, *, seconds: float | None) -> None:
        """One attempt at ``task`` ended with ``outcome`` after ``seconds``
        (``None`` when it never was dispatched: counted, not timed)."""
        labels = (task.options.partition_id, str(outcome.value))
        self.tasks_completed.labels(*labels).inc()
        if seconds is not None:
            self.task_duration.labels(*labels).observe(max(seconds, 0.0))

    def rpc_served(self, service: str, method: str, code: str, seconds: float) -> None:
        self.rpc_duration.labels(service, method, code).observe(seconds)

    # -- levels, read when scraped --------------------------------------------
    def on_scrape(self, refresh: Refresh, *, name: str) -> None:
        """Runs ``refresh`` before each scrape renders the metrics; a second
        refresher of the same ``name`` replaces the first."""
        self._refreshers[name] = refresh

    def watch_agent(self, partition: str, state: Callable[[], str], states: Sequence[str]) -> None:
        """Reports an agent of ``partition`` in ``state()`` (one of ``states``) at each scrape."""
        self._agents.append((partition, state, states))

    def set_store(
        self,
        *,
        tasks: Mapping[tuple[str, TaskStatus], int],
        results: Mapping[ResultStatus, int],
        queues: Mapping[str, tuple[int, int]],
    ) -> None:
        """The store's levels: tasks by (partition, status), results by
        status, (queued, leased) by partition. Every status of every
        partition named is reported, 0 included; what was reported before
        and is not named now is dropped."""
        partitions = sorted({*queues, *(partition for partition, _ in tasks)})
        for gauge in (self.grid_tasks, self.grid_results, self.queue_tasks):
            gauge.clear()
        for partition in partitions:
            for task_status in TASK_STATUSES:
                self.grid_tasks.labels(partition, task_status.name).set(tasks.get((partition, task_status), 0))
        for result_status in RESULT_STATUSES:
            self.grid_results.labels(result_status.name).set(results.get(result_status, 0))
        for partition, (queued, leased) in sorted(queues.items()):
            self.queue_tasks.labels(partition, "queued").set(queued)
            self.queue_tasks.labels(partition, "leased").set(leased)

    def set_fair_share(self, shares: Mapping[str, tuple[FairShare, Sequence[KeyLoad]]]) -> None:
        """Each partition's fair share and the load of its keys: the
        ``TOP_KEYS`` most loaded one by one, the others summed."""
        for gauge in self._fair_share_gauges:
            gauge.clear()
        for partition, (config, loads) in sorted(shares.items()):
            self.fair_share_info.labels(partition, config.mode, config.key).set(1)
            for key, weight in {EVERY_KEY: config.default_weight, **config.weights}.items():
                self.fair_share_weight.labels(partition, key).set(weight)
            caps = {EVERY_KEY: config.default_cap} if config.default_cap is not None else {}
            for key, cap in {**caps, **config.caps}.items():
                self.fair_share_cap.labels(partition, key).set(cap)
            self._set_key_loads(partition, loads)

    def _set_key_loads(self, partition: str, loads: Sequence[KeyLoad]) -> None:
        ranked = sorted(loads, key=lambda load: (-(load.queued + load.running), load.key))
        for load in ranked[:TOP_KEYS]:
            self.fair_share_tasks.labels(partition, load.key, "queued").set(load.queued)
            self.fair_share_tasks.labels(partition, load.key, "running").set(load.running)
        rest = ranked[TOP_KEYS:]
        self.fair_share_other_tasks.labels(partition, "queued").set(sum(load.queued for load in rest))
        self.fair_share_other_tasks.labels(partition, "running").set(sum(load.running for load in rest))
        self.fair_share_keys.labels(partition, "queued").set(sum(1 for load in loads if load.queued))
        self.fair_share_keys.labels(partition, "running").set(sum(1 for load in loads if load.running))
        self.fair_share_keys.labels(partition, "capped").set(sum(1 for load in loads if load.capped))

    @property
    def _fair_share_gauges(self) -> tuple[Gauge, ...]:
        return (self.fair_share_info, self.fair_share_weight, self.fair_share_cap, self.fair_share_tasks,
                self.fair_share_other_tasks, self.fair_share_keys)  # fmt: skip

    def store_unreadable(self) -> None:
        """This scrape could not read the store: its gauges are left out
        rather than reported stale."""
        self.scrape_errors.inc()
        for gauge in (self.grid_tasks, self.grid_results, self.queue_tasks, *self._fair_share_gauges):
            gauge.clear()

    async def render(self) -> bytes:
        """The text exposition format, after every refresher has run."""
        for refresh in list(self._refreshers.values()):
            await refresh()
        return prometheus_client.generate_latest(self.registry)

    async def _refresh_agents(self) -> None:
        counts: dict[tuple[str, str], int] = {}
        for partition, state, states in self._agents:
            for name in states:
                counts.setdefault((partition, name), 0)
            now = (partition, state())
            counts[now] = counts.get(now, 0) + 1
        self.agents.clear()
        for (partition, name), count in counts.items():
            self.agents.labels(partition, name).set(count)


def merged(pages: Iterable[bytes]) -> bytes:
    """One page from the pages of several registries of one grid: the same
    series in several pages adds up (counts, histogram buckets, agents per
    state), except ``pyarmonik_build_info``, which stays 1."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for page in pages:
        for family in text_string_to_metric_families(page.decode()):
            mine = families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            series = values.setdefault(mine.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                add = max if mine.name == "pyarmonik_build_info" else (lambda a, b: a + b)
                series[key] = add(series[key], sample.value) if key in series else sample.value
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(list(families.values())))  # type: ignore[arg-type]
    return prometheus_client.generate_latest(registry)


class _Fixed:
    """A collector of families already gathered."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def names(metrics: Metrics) -> list[str]:
    """The name of every metric ``metrics`` exposes, as Prometheus shows it
    (a counter with its ``_total``), for tests and docs."""
    return sorted(f.name + ("_total" if f.type == "counter" else "") for f in metrics.registry.collect())
