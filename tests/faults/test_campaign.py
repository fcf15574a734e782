"""Fault campaigns on the separate-process deployment: the short profile in
the normal suite, the long one opt-in (``-m faults_long`` or
``PYARMONIK_FAULTS=long``).

The seed is fixed so that CI runs the same graph and schedule every time;
``PYARMONIK_FAULT_SEED`` runs another. Every run prints its seed and writes
its report next to the deployment's logs.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from tests import servers
from tests.faults import campaign

pytestmark = [pytest.mark.integration, pytest.mark.faults]
SEED_VARIABLE = "PYARMONIK_FAULT_SEED"


def _run(root: pathlib.Path, profile: campaign.Profile) -> dict:
    seed = int(os.environ.get(SEED_VARIABLE, campaign.CI_SEED))
    print(f"fault campaign seed {seed} ({SEED_VARIABLE} picks another); logs in {root / 'logs'}")
    try:
        report = campaign.run(root, seed, profile)
    except servers.ServerUnavailable as exc:
        servers.skip_or_fail(f"cannot start the deployment's servers: {exc}")
    (root / "report.json").write_text(json.dumps(report, indent=2))
    print(campaign.summary(report))
    return report


@pytest.mark.timeout(600)
def test_short_fault_campaign_completes_every_task_exactly_once(tmp_path: pathlib.Path) -> None:
    report = _run(tmp_path, campaign.SHORT)
    assert report["faults"]["injected"] == campaign.SHORT.faults
    assert report["tasks"]["expected_completed"] >= campaign.SHORT.tasks
    assert report["anomaly_count"] == 0, campaign.summary(report)


@pytest.mark.faults_long
@pytest.mark.timeout(3600)
def test_long_fault_campaign_completes_every_task_exactly_once(tmp_path: pathlib.Path) -> None:
    report = _run(tmp_path, campaign.LONG)
    assert report["faults"]["injected"] >= 100
    assert report["tasks"]["expected_completed"] >= 10_000
    assert report["anomaly_count"] == 0, campaign.summary(report)
