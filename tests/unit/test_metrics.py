"""The metrics of a grid: names, labels, and what a scrape reports (of the
stores: ``tests/integration/test_store_metrics.py``)."""

from __future__ import annotations

import enum
import pathlib
import re

from pyarmonik import metrics as metrics_module
from pyarmonik.core import fairshare
from pyarmonik.core.fairshare import KeyLoad
from pyarmonik.core.models import Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, TaskStatus
from pyarmonik.metrics import Metrics
from pyarmonik.protocol import rpc_metrics
from tests.helpers import scraped

NAME = re.compile(r"^pyarmonik_[a-z_]+_(total|seconds|tasks|results|agents|keys|ratio|info)$")
METRICS_PAGE = (pathlib.Path(__file__).parents[2] / "docs" / "metrics.md").read_text()


class Ending(enum.Enum):
    OK = "ok"


def task_on(partition: str) -> Task:
    return Task(
        task_id="t",
        session_id="s",
        status=TaskStatus.PROCESSING,
        options=TaskOptions(partition_id=partition),
        created_at=0.0,
        payload_id="payload",
    )


def test_every_metric_is_named_pyarmonik_noun_unit() -> None:
    names = metrics_module.names(Metrics())
    assert len(names) == 16
    for name in names:
        assert NAME.match(name), name


def test_every_metric_is_documented_in_the_metrics_page_table() -> None:
    documented = re.findall(r"^\| `(pyarmonik_[a-z_]+)` \|", METRICS_PAGE, flags=re.MULTILINE)
    assert sorted(documented) == metrics_module.names(Metrics())


def test_no_counter_exposes_a_created_series() -> None:
    metrics = Metrics()
    metrics.count_submitted([task_on("p")])
    text = metrics_module.prometheus_client.generate_latest(metrics.registry).decode()
    assert "_created" not in text


def test_two_grids_count_apart() -> None:
    first, second = Metrics(), Metrics()
    first.count_submitted([task_on("p"), task_on("p")])
    assert first.registry.get_sample_value("pyarmonik_tasks_submitted_total", {"partition": "p"}) == 2
    assert second.registry.get_sample_value("pyarmonik_tasks_submitted_total", {"partition": "p"}) is None


def test_an_attempt_that_never_started_is_counted_but_not_timed() -> None:
    metrics = Metrics()
    metrics.settled(task_on("p"), Ending.OK, seconds=None)
    metrics.settled(task_on("p"), Ending.OK, seconds=2.0)
    labels = {"partition": "p", "outcome": "ok"}
    assert metrics.registry.get_sample_value("pyarmonik_tasks_completed_total", labels) == 2
    assert metrics.registry.get_sample_value("pyarmonik_task_duration_seconds_count", labels) == 1
    assert metrics.registry.get_sample_value("pyarmonik_task_duration_seconds_sum", labels) == 2.0


async def test_the_store_levels_report_every_status_of_every_partition_and_drop_what_is_gone() -> None:
    metrics = Metrics()
    metrics.set_store(
        tasks={("a", TaskStatus.COMPLETED): 3, ("b", TaskStatus.SUBMITTED): 1},
        results={ResultStatus.COMPLETED: 4},
        queues={"a": (0, 0), "b": (1, 0)},
    )
    samples = await scraped(metrics)
    assert samples[("pyarmonik_grid_tasks", (("partition", "a"), ("status", "COMPLETED")))] == 3
    assert samples[("pyarmonik_grid_tasks", (("partition", "a"), ("status", "SUBMITTED")))] == 0
    assert samples[("pyarmonik_grid_results", (("status", "ABORTED"),))] == 0
    assert samples[("pyarmonik_queue_tasks", (("partition", "b"), ("state", "queued")))] == 1
    assert len([key for key in samples if key[0] == "pyarmonik_grid_tasks"]) == 2 * len(metrics_module.TASK_STATUSES)
    metrics.set_store(tasks={}, results={}, queues={"a": (0, 0)})
    samples = await scraped(metrics)
    assert ("pyarmonik_queue_tasks", (("partition", "b"), ("state", "queued"))) not in samples
    assert ("pyarmonik_grid_tasks", (("partition", "b"), ("status", "SUBMITTED"))) not in samples


async def test_agents_are_reported_by_partition_and_state_with_every_state_shown() -> None:
    metrics = Metrics()
    states = ["idle", "busy", "draining"]
    current = {"one": "idle", "two": "busy"}
    metrics.watch_agent("p", lambda: current["one"], states)
    metrics.watch_agent("p", lambda: current["two"], states)
    samples = await scraped(metrics)
    assert [samples[("pyarmonik_partition_agents", (("partition", "p"), ("state", s)))] for s in states] == [1, 1, 0]
    current["two"] = "draining"
    samples = await scraped(metrics)
    assert [samples[("pyarmonik_partition_agents", (("partition", "p"), ("state", s)))] for s in states] == [1, 0, 1]


def test_an_rpc_method_is_split_into_its_service_and_method() -> None:
    assert rpc_metrics.split_method("/armonik.api.grpc.v1.tasks.Tasks/SubmitTasks") == (
        "armonik.api.grpc.v1.tasks.Tasks",
        "SubmitTasks",
    )


async def test_fair_share_reports_the_most_loaded_keys_one_by_one_and_sums_the_others() -> None:
    metrics = Metrics()
    loads = [KeyLoad(f"s{i:02}", queued=i, running=0) for i in range(30)]
    loads.append(KeyLoad("capped", queued=50, running=4, capped=True))
    config = fairshare.fair_share(key="user", weights={"bob": 2}, caps={"*": 4})
    metrics.set_fair_share({"p": (config, loads)})
    page = await scraped(metrics)

    def value(name: str, **labels: str) -> float:
        return page[(name, tuple(sorted({"partition": "p", **labels}.items())))]

    top = {f"s{i}" for i in range(21, 30)} | {"capped"}
    assert {dict(labels)["key"] for name, labels in page if name == "pyarmonik_fair_share_tasks"} == top
    assert value("pyarmonik_fair_share_tasks", key="capped", state="running") == 4
    queued_rest = sum(load.queued for load in loads if load.key not in top)
    assert value("pyarmonik_fair_share_other_tasks", state="queued") == queued_rest
    assert value("pyarmonik_fair_share_keys", state="capped") == 1
    assert value("pyarmonik_fair_share_keys", state="queued") == 30
    assert value("pyarmonik_fair_share_info", mode="fair", key="user") == 1
    assert value("pyarmonik_fair_share_weight_ratio", key="bob") == 2
    assert value("pyarmonik_fair_share_cap_tasks", key="*") == 4
