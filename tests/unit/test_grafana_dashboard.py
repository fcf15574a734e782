"""The Grafana dashboard (manifests/grafana/pyarmonik-dashboard.json): a
dashboard Grafana loads, whose queries parse as PromQL and read only the
metrics below, each of which it shows."""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests import servers

DASHBOARD = pathlib.Path(__file__).parents[2] / "manifests" / "grafana" / "pyarmonik-dashboard.json"

#: Every metric the dashboard may read: PyArmoniK's own (control plane and
#: agents) and kube-state-metrics' Deployment series.
METRICS = {
    "pyarmonik_grid_tasks",  # gauge {partition, status}
    "pyarmonik_queue_tasks",  # gauge {partition, state=queued|leased}
    "pyarmonik_tasks_completed_total",  # counter {partition}
    "pyarmonik_task_duration_seconds_bucket",  # histogram {partition}
    "pyarmonik_rpc_duration_seconds_bucket",  # histogram
    "kube_deployment_status_replicas",
    "kube_deployment_status_replicas_ready",
    "kube_deployment_labels",
}
REQUIRED_PANELS = {
    "Tasks by status",
    "Throughput by partition",
    "Queue depth by partition",
    "Pods per partition",
    "Task duration",
    "RPC latency",
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


@pytest.fixture(scope="module")
def promql() -> Any:
    try:
        import promql_parser
    except ImportError:
        servers.skip_or_fail("the PromQL parser is missing: pip install -e '.[test]' (promql-parser)")
    return promql_parser


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query, the variables' included."""
    found = [(panel["title"], target["expr"]) for panel in panels(dashboard) for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(<selector>, <label>) is Grafana's, its selector PromQL.
            match = re.fullmatch(r"label_values\((?P<selector>.+),\s*\w+\)", variable["query"]["query"])
            assert match, variable
            found.append((f"${variable['name']}", match["selector"]))
    return found


def metric_names(promql: Any, node: Any) -> Iterator[str]:
    """The metric names a parsed PromQL expression selects."""
    if isinstance(node, promql.VectorSelector):
        assert node.name, f"a selector without a metric name: {node}"
        yield node.name
    elif isinstance(node, promql.MatrixSelector):
        yield from metric_names(promql, node.vector_selector)
    elif isinstance(node, promql.Call):
        for argument in node.args:
            yield from metric_names(promql, argument)
    elif isinstance(node, promql.BinaryExpr):
        yield from metric_names(promql, node.lhs)
        yield from metric_names(promql, node.rhs)
    elif isinstance(node, promql.AggregateExpr):
        yield from metric_names(promql, node.expr)
        if node.param is not None:
            yield from metric_names(promql, node.param)
    elif isinstance(node, (promql.ParenExpr, promql.UnaryExpr, promql.SubqueryExpr)):
        yield from metric_names(promql, node.expr)
    else:
        assert isinstance(node, (promql.NumberLiteral, promql.StringLiteral)), type(node)


def test_the_dashboard_is_one_grafana_loads(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] >= 39
    assert dashboard["uid"] and dashboard["title"] == "PyArmoniK"
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def test_it_shows_tasks_queues_pods_throughput_and_latencies(dashboard: dict[str, Any]) -> None:
    assert {panel["title"] for panel in panels(dashboard)} >= REQUIRED_PANELS


def test_every_query_parses_as_promql(dashboard: dict[str, Any], promql: Any) -> None:
    for title, expression in queries(dashboard):
        try:
            promql.parse(expression)
        except ValueError as error:
            pytest.fail(f"{title}: {expression}: {error}")


def test_every_query_reads_only_the_listed_metrics_and_every_listed_metric_is_shown(
    dashboard: dict[str, Any], promql: Any
) -> None:
    used: dict[str, set[str]] = {}
    for title, expression in queries(dashboard):
        for name in metric_names(promql, promql.parse(expression)):
            used.setdefault(name, set()).add(title)
    unknown = {name: titles for name, titles in used.items() if name not in METRICS}
    assert not unknown, f"metrics not in the list: {unknown}"
    assert set(used) == METRICS, f"listed but never shown: {METRICS - set(used)}"


def test_every_query_takes_its_data_source_and_filters_from_the_variables(dashboard: dict[str, Any]) -> None:
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {"datasource", "namespace", "partition"} <= variables
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert set(re.findall(r"\$(\w+)", target["expr"])) <= variables, panel["title"]
            assert "$namespace" in target["expr"], f"{panel['title']}: every query filters by namespace"
