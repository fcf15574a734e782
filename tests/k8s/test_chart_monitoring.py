"""The chart's ServiceMonitor against the Prometheus Operator's published schema
(``tests.published_schemas``), for every way it renders. Needs only helm."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests import published_schemas

from . import chart

SERVICE_MONITOR_API = "monitoring.coreos.com/v1/ServiceMonitor"
ENABLED = ("--set", "metrics.serviceMonitor.enabled=true", "--api-versions", SERVICE_MONITOR_API)


def service_monitor(helm: str, *arguments: str) -> dict[str, Any]:
    (monitor,) = [o for o in chart.render(helm, *ENABLED, *arguments) if o["kind"] == "ServiceMonitor"]
    return monitor


@pytest.mark.parametrize(
    "arguments",
    [
        (),
        ("--values", str(chart.CHART / "ci" / "namespaced-values.yaml")),
        (
            "--set", "metrics.serviceMonitor.labels.release=prometheus",
            "--set", "metrics.serviceMonitor.interval=15s",
            "--set", "metrics.serviceMonitor.scrapeTimeout=5s",
        ),
    ],
    ids=["defaults", "one_watched_namespace", "labels_and_intervals"],
)  # fmt: skip
def test_the_service_monitor_passes_the_prometheus_operators_published_schema(
    helm: str, arguments: tuple[str, ...]
) -> None:
    assert published_schemas.errors(service_monitor(helm, *arguments)) == []


def test_the_published_schema_refuses_a_misspelt_field_and_a_bad_duration(helm: str) -> None:
    monitor = copy.deepcopy(service_monitor(helm))
    endpoint = monitor["spec"]["endpoints"][0]
    endpoint["scrapeTimout"] = endpoint.pop("scrapeTimeout")
    endpoint["interval"] = "30 seconds"
    found = published_schemas.errors(monitor)
    assert len(found) == 2, found
    assert "scrapeTimout" in found[0] and found[1].startswith("spec/endpoints/0/interval")
