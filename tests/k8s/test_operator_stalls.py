"""No stall: what the operator must do at once does not wait for its next resync.

The operator here resyncs every ``RESYNC_SECONDS`` (30 s), so a repair or a
rollout seen within that time came from the change it reacted to, not from a
periodic pass: each test says "converges before the next resync" by waiting
at most that long, on the test bed's clock.

- A grid whose Redis does not answer (starting, restarting, behind a broken
  path) holds no reconcile: children follow a change at once, and the status
  says why the partition is not declared.
- A restarted operator repairs every grid at once, however many it resumes in
  parallel (their kinds are looked up concurrently).
- Deleting a cluster removes it and everything it owns at once.
"""

from __future__ import annotations

import pathlib
import socket
import tempfile
import threading
from collections.abc import Iterator

import pytest
from kubernetes import config

from pyarmonik.operator import kube

from . import controlplane, operator_process
from .test_operator import condition, exists, external_cluster, get, partition, replicas_of

pytestmark = [
    pytest.mark.k8s,
    pytest.mark.timeout(300),
    # The test bed's kubeconfig skips TLS verification (its API server's certificate is self-signed).
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

#: The operator's resync period in this module: longer than every wait below.
RESYNC_SECONDS = 30.0


@pytest.fixture
def slow_resync(crds: controlplane.ControlPlane, tmp_path: pathlib.Path) -> Iterator[operator_process.Operator]:
    with operator_process.running(crds, tmp_path, resync_seconds=RESYNC_SECONDS) as running:
        yield running


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        yield f"redis://127.0.0.1:{silent.getsockname()[1]}/0"


def test_a_grid_whose_redis_does_not_answer_holds_no_reconcile(
    k8s: controlplane.ControlPlane, slow_resync: operator_process.Operator, silent_redis: str, namespace: str
) -> None:
    k8s.apply(external_cluster(silent_redis), namespace=namespace)
    k8s.apply(partition("default", podReserved=1, podMax=4), namespace=namespace)
    name = "grid-partition-default"

    def explain() -> str:
        return f"{k8s.describe(namespace, 'akp', 'deployments')}\noperator:\n{slow_resync.tail(40)}"

    k8s.wait_for(lambda: replicas_of(k8s, namespace, name) == 1, timeout=RESYNC_SECONDS, explain=explain)
    declared = k8s.wait_for(
        lambda: condition(get(k8s, namespace, "akp/default"), "Declared") or None, timeout=RESYNC_SECONDS
    )
    assert declared["status"] == "False" and "no answer yet" in declared["message"]

    for wanted in (3, 2):  # each change before the next resync, Redis silent all along
        k8s.kubectl("scale", "-n", namespace, "akp/default", f"--replicas={wanted}")
        k8s.wait_for(
            lambda wanted=wanted: replicas_of(k8s, namespace, name) == wanted,  # type: ignore[misc]
            timeout=RESYNC_SECONDS,
            explain=explain,
        )


def test_a_restarted_operator_repairs_every_grid_before_the_next_resync(
    k8s: controlplane.ControlPlane, slow_resync: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    partitions = [f"p{index}" for index in range(8)]
    k8s.apply(external_cluster(redis_server), namespace=namespace)
    for partition_id in partitions:
        k8s.apply(partition(partition_id), namespace=namespace)
    deployments = ["grid-control-plane", *(f"grid-partition-{p}" for p in partitions)]

    def converged() -> bool:
        listed = {d["metadata"]["name"] for d in get(k8s, namespace, "deployments")["items"]}
        return listed >= set(deployments)

    def explain() -> str:
        return f"{k8s.describe(namespace, 'akp', 'deployments')}\noperator:\n{slow_resync.tail(60)}"

    k8s.wait_for(converged, timeout=90, explain=explain)
    slow_resync.stop()
    k8s.kubectl("delete", "-n", namespace, "deployments", "--all", "--wait=false")
    k8s.wait_for(lambda: not get(k8s, namespace, "deployments")["items"], timeout=60)
    slow_resync.start()  # every grid resumed at once, by handlers running in parallel
    k8s.wait_for(converged, timeout=RESYNC_SECONDS, explain=explain)


def test_deleting_a_cluster_removes_it_and_what_it_owns_before_the_next_resync(
    k8s: controlplane.ControlPlane, slow_resync: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    k8s.apply(external_cluster(redis_server), namespace=namespace)
    for partition_id in ("alpha", "beta"):
        k8s.apply(partition(partition_id), namespace=namespace)
    for name in ("grid-partition-alpha", "grid-partition-beta"):
        k8s.wait_for(lambda name=name: exists(k8s, namespace, "deployment", name), timeout=90)  # type: ignore[misc]
    k8s.wait_for(lambda: all(o["metadata"].get("ownerReferences") for o in get(k8s, namespace, "akp")["items"]))

    deleted = k8s.kubectl("delete", "-n", namespace, "akc/grid", f"--timeout={RESYNC_SECONDS:.0f}s", check=False)
    assert deleted.returncode == 0, deleted.stderr

    def gone() -> bool:
        left = get(k8s, namespace, "akp,deployments,services,networkpolicies,poddisruptionbudgets")["items"]
        return not left

    k8s.wait_for(gone, timeout=RESYNC_SECONDS, explain=lambda: k8s.describe(namespace, "akp", "deployments"))


def _resolve_at_once(client: kube.Kube, kinds: list[tuple[str, str]]) -> list[str]:
    """Each kind resolved by a thread of its own, all released together; the failures."""
    failures: list[str] = []
    start = threading.Barrier(len(kinds))

    def resolve(api_version: str, kind: str) -> None:
        start.wait()
        try:
            client.resource(api_version, kind)
        except kube.NoSuchKind:
            pass
        except Exception as exc:
            failures.append(f"{kind}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=resolve, args=kind) for kind in kinds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return failures


def test_kinds_are_looked_up_from_many_threads_at_once_without_error(
    k8s: controlplane.ControlPlane, crds: controlplane.ControlPlane, tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """What the operator's handlers do after a restart: each thread resolves
    the kinds it applies, one of them missing (KEDA's), with a discovery
    cache to build."""
    kinds = [
        ("apps/v1", "Deployment"), ("v1", "Service"), ("policy/v1", "PodDisruptionBudget"),
        ("networking.k8s.io/v1", "NetworkPolicy"), ("keda.sh/v1alpha1", "ScaledObject"),
        ("pyarmonik.io/v1alpha1", "ArmoniKPartition"), ("v1", "Secret"), ("apps/v1", "StatefulSet"),
    ]  # fmt: skip
    for attempt in range(5):
        # The client's discovery cache file goes to the temporary folder: a fresh one each time.
        (tmp_path / str(attempt)).mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / str(attempt)))
        api = config.new_client_from_config(config_file=str(k8s.kubeconfig))
        try:
            assert _resolve_at_once(kube.Kube(api), kinds) == []
        finally:
            api.close()
