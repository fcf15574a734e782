"""The operator against a real API server: ``kubectl apply`` the examples and
the grid appears, converges, heals, scales and is removed cleanly.

The operator runs as a local process with a kubeconfig (as it would beside a
cluster); kwok nodes run no container, so pods reach Running without a
process in them: the data path is the multi-process tests' (tests/integration).
"""

from __future__ import annotations

import copy
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.k8s import controlplane, operator_process

# Each test waits on a few resyncs of a loaded 2-core machine; none loops unbounded.
pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300)]

ROOT = pathlib.Path(__file__).parents[2]
EXAMPLES = ROOT / "manifests" / "examples"
PARTITIONS = ("default", "gpu")
#: Long enough for a few resyncs of a loaded 2-core machine.
CONVERGE = 60.0


@pytest.fixture(scope="module")
def operator(
    crds: controlplane.ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[operator_process.Operator]:
    with operator_process.running(crds, tmp_path_factory.mktemp("operator")) as running:
        yield running


@pytest.fixture(scope="module")
def volumes(k8s: controlplane.ControlPlane) -> None:
    """PersistentVolumes for the managed Redis and MinIO claims (the test bed
    has no provisioner; kube-controller-manager binds claims to these)."""
    for index in range(8):
        k8s.apply(persistent_volume(f"pyarmonik-test-pv-{index}"))


def persistent_volume(name: str, storage_class: str | None = None) -> dict[str, Any]:
    """A 20Gi hostPath volume a claim of ``storage_class`` (none: no class) binds to."""
    spec: dict[str, Any] = {
        "capacity": {"storage": "20Gi"},
        "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": f"/tmp/{name}"},
        "persistentVolumeReclaimPolicy": "Retain",
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return loaded


def external_cluster(redis_url: str, name: str = "grid") -> dict[str, Any]:
    """A cluster on the tests' real Redis, which the operator reaches from
    this machine (a managed Redis would only be reachable inside a cluster)."""
    return {
        "apiVersion": "pyarmonik.io/v1alpha1",
        "kind": "ArmoniKCluster",
        "metadata": {"name": name},
        "spec": {
            "redis": {"mode": "external", "external": {"url": redis_url}},
            "objectStorage": {"mode": "external", "external": {"endpoint": "s3.example:9000"}},
            # Pods get graceSeconds + 15 s to stop: keep deletions in the tests short.
            "lease": {"graceSeconds": 1},
        },
    }


def partition(partition_id: str, *, cluster: str = "grid", **spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(example("partition-cpu.yaml"))
    body["metadata"] = {"name": partition_id}
    body["spec"]["clusterRef"] = {"name": cluster}
    body["spec"].update(spec)
    return body


def get(k8s: controlplane.ControlPlane, namespace: str, *what: str) -> Any:
    return k8s.get("-n", namespace, *what)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind]
    return found[0] if found else {}


def exists(k8s: controlplane.ControlPlane, namespace: str, *what: str) -> bool:
    return k8s.kubectl("get", "-n", namespace, *what, check=False).returncode == 0


def owner_kinds(obj: dict[str, Any]) -> set[str]:
    return {ref["kind"] for ref in obj["metadata"].get("ownerReferences") or []}


def replicas_of(k8s: controlplane.ControlPlane, namespace: str, name: str) -> int | None:
    found = k8s.kubectl("get", "-n", namespace, "deployment", name, "-o", "jsonpath={.spec.replicas}", check=False)
    return int(found.stdout) if found.returncode == 0 and found.stdout else None


# -- the examples, as a user applies them ------------------------------------------
def test_the_examples_become_an_owned_grid_whose_pods_run_and_whose_conditions_turn_ready(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, volumes: None, namespace: str
) -> None:
    k8s.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES))

    def ready() -> bool:
        return condition(get(k8s, namespace, "akc/grid"), "Ready").get("status") == "True"

    k8s.wait_for(ready, timeout=90)
    cluster = get(k8s, namespace, "akc/grid")
    assert cluster["status"]["phase"] == "Ready"
    assert cluster["status"]["endpoint"] == f"grid-control-plane.{namespace}.svc:5001"
    assert {c["type"] for c in cluster["status"]["conditions"]} == {
        "RedisReady",
        "ObjectStorageReady",
        "ControlPlaneReady",
        "Ready",
    }
    for kind, name in [
        ("deployment", "grid-control-plane"),
        ("service", "grid-control-plane"),
        ("statefulset", "grid-redis"),
        ("statefulset", "grid-minio"),
        ("secret", "grid-minio-credentials"),
        ("serviceaccount", "grid-grid"),
        ("networkpolicy", "grid-control-plane"),
        ("networkpolicy", "grid-redis"),
        ("networkpolicy", "grid-minio"),
    ]:
        assert owner_kinds(get(k8s, namespace, kind, name)) == {"ArmoniKCluster"}, (kind, name)
    deployment = get(k8s, namespace, "deployment", "grid-partition-default")
    assert owner_kinds(deployment) == {"ArmoniKPartition"}
    assert owner_kinds(get(k8s, namespace, "networkpolicy", "grid-partition-default")) == {"ArmoniKPartition"}
    assert owner_kinds(get(k8s, namespace, "akp/default")) == {"ArmoniKCluster"}

    def pods_ready() -> bool:
        return all(condition(get(k8s, namespace, f"akp/{p}"), "PodsReady").get("status") == "True" for p in PARTITIONS)

    described = ("akp", "deployments", "pods", "pvc", "nodes")
    k8s.wait_for(pods_ready, timeout=CONVERGE, explain=lambda: k8s.describe(namespace, *described))
    # The managed Redis is reachable inside the cluster only, and this operator runs outside it (the in-cluster
    # one declares partitions; test_partition_resources_are_the_partitions_... covers that on a reachable Redis).
    # Its connection is attempted in the background: first "no answer yet", then why it failed.
    unreachable = f"cannot reach Redis at redis://grid-redis.{namespace}.svc:6379/0"

    def declared() -> dict[str, Any]:
        return condition(get(k8s, namespace, "akp/default"), "Declared")

    k8s.wait_for(lambda: unreachable in declared().get("message", ""), timeout=CONVERGE)
    assert declared()["status"] == "False"
    pods = get(k8s, namespace, "pods", "-l", "pyarmonik.io/cluster=grid")["items"]
    assert pods and all(p["status"]["phase"] == "Running" for p in pods)
    events = get(k8s, namespace, "events")["items"]
    assert any(e["involvedObject"]["kind"] == "ArmoniKCluster" for e in events)


def test_a_cluster_not_ready_says_which_component_in_one_line(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, namespace: str
) -> None:
    cluster = example("cluster.yaml")  # managed Redis, but no volume left unbound for it in this namespace
    cluster["spec"]["redis"]["managed"]["storageClassName"] = "no-such-class"
    k8s.apply(cluster, namespace=namespace)

    def redis_condition() -> dict[str, Any]:
        return condition(get(k8s, namespace, "akc/grid"), "RedisReady")

    k8s.wait_for(lambda: redis_condition().get("status") == "False", timeout=CONVERGE)
    assert redis_condition()["message"] == "Redis not ready: 0/1 pods"
    assert get(k8s, namespace, "akc/grid")["status"]["phase"] == "Progressing"


# -- convergence ---------------------------------------------------------------------
def test_a_spec_change_rolls_out_and_a_deleted_child_is_recreated(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    k8s.apply(external_cluster(redis_server), namespace=namespace)
    k8s.apply(partition("default"), namespace=namespace)
    name = "grid-partition-default"
    k8s.wait_for(lambda: exists(k8s, namespace, "deployment", name), timeout=CONVERGE)

    changed = partition("default")
    changed["spec"]["worker"]["image"] = "pyarmonik-hello-world-worker:0.2.0"
    k8s.apply(changed, namespace=namespace)

    def worker_image() -> str:
        pod = get(k8s, namespace, "deployment", name)["spec"]["template"]["spec"]
        return next(c["image"] for c in pod["containers"] if c["name"] == "worker")

    k8s.wait_for(lambda: worker_image() == "pyarmonik-hello-world-worker:0.2.0", timeout=CONVERGE)

    k8s.kubectl("delete", "-n", namespace, "deployment", "grid-control-plane")
    k8s.wait_for(lambda: exists(k8s, namespace, "deployment", "grid-control-plane"), timeout=CONVERGE)
    k8s.kubectl("scale", "-n", namespace, "deployment", "grid-control-plane", "--replicas=5")  # a hand edit
    k8s.wait_for(
        lambda: get(k8s, namespace, "deployment", "grid-control-plane")["spec"]["replicas"] == 1, timeout=CONVERGE
    )


def test_kubectl_scale_on_a_partition_scales_its_deployment_within_its_bounds(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    k8s.apply(external_cluster(redis_server), namespace=namespace)
    k8s.apply(partition("default", podReserved=1, podMax=4), namespace=namespace)
    k8s.wait_for(lambda: exists(k8s, namespace, "deployment", "grid-partition-default"), timeout=CONVERGE)

    k8s.kubectl("scale", "-n", namespace, "armonikpartition/default", "--replicas=3")

    def replicas() -> tuple[int, int]:
        deployment = get(k8s, namespace, "deployment", "grid-partition-default")
        status = get(k8s, namespace, "akp/default").get("status") or {}
        return deployment["spec"]["replicas"], status.get("readyReplicas", 0)

    k8s.wait_for(lambda: replicas() == (3, 3), timeout=CONVERGE)
    scale = json.loads(
        k8s.kubectl(
            "get",
            "-n",
            namespace,
            "--raw",
            f"/apis/pyarmonik.io/v1alpha1/namespaces/{namespace}/armonikpartitions/default/scale",
        ).stdout
    )
    assert scale["status"]["replicas"] == 3
    assert "pyarmonik.io/partition=default" in scale["status"]["selector"]

    k8s.kubectl("scale", "-n", namespace, "armonikpartition/default", "--replicas=9")  # above podMax
    k8s.wait_for(lambda: replicas()[0] == 4, timeout=CONVERGE)


def test_gpu_partition_pods_land_only_on_gpu_nodes_and_cpu_ones_never_there(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    k8s.apply(external_cluster(redis_server), namespace=namespace)
    gpu = example("partition-gpu.yaml")
    gpu["spec"].update(podReserved=3, podMax=3)
    k8s.apply(gpu, namespace=namespace)
    k8s.apply(partition("default", podReserved=3, podMax=3), namespace=namespace)
    nodes = {n["metadata"]["name"]: n for n in k8s.get("nodes")["items"]}
    gpu_nodes = {name for name, n in nodes.items() if "nvidia.com/gpu" in n["status"]["capacity"]}
    assert gpu_nodes and gpu_nodes != set(nodes)

    def placed(partition_id: str) -> set[str]:
        pods = get(k8s, namespace, "pods", "-l", f"pyarmonik.io/partition={partition_id}")["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        return {p["spec"]["nodeName"] for p in running} if len(running) == 3 else set()

    gpu_placed = k8s.wait_for(lambda: placed("gpu"), timeout=CONVERGE)
    cpu_placed = k8s.wait_for(lambda: placed("default"), timeout=CONVERGE)
    assert gpu_placed <= gpu_nodes
    assert not cpu_placed & gpu_nodes


# -- partitions the grid serves --------------------------------------------------------
def test_a_partition_waits_for_its_cluster_then_converges(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    k8s.apply(partition("default"), namespace=namespace)

    def cluster_found() -> dict[str, Any]:
        return condition(get(k8s, namespace, "akp/default"), "ClusterFound")

    k8s.wait_for(lambda: cluster_found().get("status") == "False", timeout=CONVERGE)
    assert "ArmoniKCluster grid does not exist (yet)" in cluster_found()["message"]
    assert get(k8s, namespace, "akp/default")["status"]["phase"] == "Pending"

    k8s.apply(external_cluster(redis_server), namespace=namespace)
    k8s.wait_for(lambda: cluster_found().get("status") == "True", timeout=CONVERGE)
    k8s.wait_for(lambda: exists(k8s, namespace, "deployment", "grid-partition-default"), timeout=CONVERGE)


def test_deleting_the_cluster_garbage_collects_every_child_and_partition(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    k8s.apply(external_cluster(redis_server), namespace=namespace)
    k8s.apply(partition("default"), namespace=namespace)
    k8s.wait_for(lambda: exists(k8s, namespace, "deployment", "grid-partition-default"), timeout=CONVERGE)
    k8s.wait_for(lambda: owner_kinds(get(k8s, namespace, "akp/default")) == {"ArmoniKCluster"}, timeout=CONVERGE)

    k8s.kubectl("delete", "-n", namespace, "akc/grid", "--wait=false")

    def gone() -> bool:
        left = get(k8s, namespace, "deployments,services,pods,armonikpartitions,serviceaccounts")["items"]
        return not [o for o in left if o["metadata"]["name"] != "default" or o["kind"] != "ServiceAccount"]

    k8s.wait_for(gone, timeout=90)


def test_an_operator_killed_mid_way_converges_on_restart_without_duplicating_anything(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    expected = ("grid-control-plane", "grid-partition-alpha", "grid-partition-beta")
    operator.kill()
    try:
        k8s.apply(external_cluster(redis_server), namespace=namespace)
        for partition_id in ("alpha", "beta"):
            k8s.apply(partition(partition_id), namespace=namespace)
    finally:
        operator.start()

    def converged() -> bool:
        return all(exists(k8s, namespace, "deployment", name) for name in expected)

    def explain() -> str:
        return f"{k8s.describe(namespace, 'akc', 'akp', 'deployments')}\noperator:\n{operator.tail(80)}"

    k8s.wait_for(converged, timeout=CONVERGE, explain=explain)
    operator.kill()
    operator.start()  # again: resume handlers run over a converged grid
    k8s.wait_for(lambda: "operator watching" in operator.tail(200), timeout=CONVERGE)
    k8s.wait_for(converged, timeout=CONVERGE, explain=explain)
    deployments = get(k8s, namespace, "deployments")["items"]
    assert sorted(d["metadata"]["name"] for d in deployments) == list(expected)
    replica_sets = get(k8s, namespace, "replicasets")["items"]
    assert len(replica_sets) == 3  # no spurious rollout either


# -- invalid resources -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"podReserved": 5, "podMax": 2}, "podMax must be >= podReserved"),
        ({"replicas": -1}, "spec.replicas"),
        ({"podMaximum": 3}, 'unknown field "spec.podMaximum"'),
        # spec.fairShare: refused where the grid would refuse it (tests/k8s/test_fair_share.py has the rest)
        ({"fairShare": {"weights": {"alice": 0}}}, "weights must be from 0.01 to 100"),  # a whole 0: the CEL rule
        ({"fairShare": {"weights": {"alice": 0.001}}}, "spec.fairShare.weights.alice"),
        ({"fairShare": {"caps": {"*": 0}}}, "spec.fairShare.caps.*"),
        ({"fairShare": {"mode": "random"}}, "spec.fairShare.mode"),
        ({"fairShare": {"key": "team"}}, "spec.fairShare.key"),
    ],
)
def test_an_invalid_partition_is_refused_by_the_api_server_with_a_readable_message(
    crds: controlplane.ControlPlane, namespace: str, change: dict[str, Any], message: str
) -> None:
    body = partition("default", **change)
    result = crds.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body), check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert not exists(crds, namespace, "akp/default")


def test_partition_resources_are_the_partitions_the_control_plane_serves(
    k8s: controlplane.ControlPlane,
    operator: operator_process.Operator,
    redis_server: str,
    namespace: str,
    tmp_path: pathlib.Path,
) -> None:
    from datetime import timedelta

    import grpc
    from armonik.client import ArmoniKPartitions, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
    from armonik.common import Partition, TaskDefinition, TaskOptions

    from pyarmonik.settings import LocalSettings
    from tests.grid_thread import GridThread
    from tests.helpers import grpc_code

    partition_id = f"analytics-{namespace[-8:]}"
    k8s.apply(external_cluster(redis_server), namespace=namespace)
    k8s.apply(partition(partition_id, podReserved=0, podMax=7, priority=3), namespace=namespace)
    # A control plane on the same Redis as the operator, as the cluster's pods would be.
    grid = GridThread(LocalSettings(port=0, data_dir=tmp_path, redis_url=redis_server, agents=0)).start()
    try:
        with grpc.insecure_channel(grid.address) as channel:
            partitions = ArmoniKPartitions(channel)

            def listed() -> list[Any]:
                return [p for p in partitions.list_partitions(Partition.id == partition_id)[1]]

            [served] = k8s.wait_for(listed, timeout=CONVERGE)
            assert (served.pod_max, served.pod_reserved, served.priority) == (7, 0, 3)

            options = TaskOptions(
                max_duration=timedelta(seconds=60), priority=1, max_retries=1, partition_id=partition_id
            )
            session_id = ArmoniKSessions(channel).create_session(options, partition_ids=[partition_id])
            results = ArmoniKResults(channel)
            payload = results.create_results({"payload": b"x"}, session_id)["payload"].result_id
            output = results.create_results_metadata(["out"], session_id)["out"].result_id

            k8s.kubectl("delete", "-n", namespace, f"akp/{partition_id}")
            k8s.wait_for(lambda: not listed(), timeout=CONVERGE)
            code = grpc_code(
                lambda: ArmoniKTasks(channel).submit_tasks(
                    session_id, [TaskDefinition(payload_id=payload, expected_output_ids=[output])]
                )
            )
            assert code == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        grid.stop()


# -- autoscaling ---------------------------------------------------------------------------
def test_the_partition_follows_its_queue_up_at_once_and_down_to_zero_after_the_cooldown(
    k8s: controlplane.ControlPlane,
    operator: operator_process.Operator,
    redis_server: str,
    namespace: str,
    tmp_path: pathlib.Path,
) -> None:
    """A live grid on the cluster's Redis: the official client queues tasks,
    the partition grows at once; real agents (official-SDK workers) drain the
    queue, the partition shrinks to zero after its cooldown."""
    import grpc

    from pyarmonik.settings import LocalSettings
    from tests.grid_thread import GridThread
    from tests.integration.test_agent_worker import WORKER_COMMAND, Client

    partition_id = f"burst-{namespace[-8:]}"
    autoscaling = {"enabled": True, "targetTasksPerPod": 2, "scaleUpStep": 10, "scaleDownCooldownSeconds": 3}
    k8s.apply(external_cluster(redis_server), namespace=namespace)
    k8s.apply(partition(partition_id, podReserved=0, podMax=4, autoscaling=autoscaling), namespace=namespace)
    name = f"grid-partition-{partition_id}"

    def replicas() -> int | None:
        return replicas_of(k8s, namespace, name)

    k8s.wait_for(lambda: replicas() == 0, timeout=CONVERGE)  # podReserved 0 and nothing queued: zero pods

    # Both grids share Redis and the objects folder, as a cluster's pods share Redis and S3.
    common = {"data_dir": tmp_path, "redis_url": redis_server, "partitions": [partition_id], "lease_seconds": 5.0}
    api = GridThread(LocalSettings(port=0, agents=0, **common)).start()
    try:
        with grpc.insecure_channel(api.address) as channel:
            client = Client(channel, partition_id=partition_id)
            outputs = [client.submit({"do": "echo", "value": n})[1] for n in range(7)]
            # 7 queued at 2 per pod: 4 pods (podMax), at once.
            k8s.wait_for(lambda: replicas() == 4, timeout=CONVERGE)
            assert get(k8s, namespace, f"akp/{partition_id}")["spec"]["replicas"] == 4  # written through /scale

            agents = GridThread(LocalSettings(port=0, agents=2, worker=[WORKER_COMMAND], **common)).start()
            try:
                assert [client.value(output) for output in outputs] == list(range(7))
            finally:
                agents.stop()
        k8s.wait_for(lambda: replicas() == 0, timeout=CONVERGE)
    finally:
        api.stop()
    events = [e for e in get(k8s, namespace, "events")["items"] if e["involvedObject"]["name"] == partition_id]
    assert {"ScaledUp", "ScaledDown"} <= {e["reason"] for e in events}


def test_network_policies_guard_the_grid_and_go_when_turned_off(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    cluster = external_cluster(redis_server)
    k8s.apply(cluster, namespace=namespace)
    k8s.apply(partition("default"), namespace=namespace)

    def policies() -> set[str]:
        return {p["metadata"]["name"] for p in get(k8s, namespace, "networkpolicies")["items"]}

    k8s.wait_for(lambda: {"grid-control-plane", "grid-partition-default"} <= policies(), timeout=CONVERGE)
    cluster["spec"]["networkPolicy"] = {"enabled": False}
    k8s.apply(cluster, namespace=namespace)
    k8s.wait_for(lambda: "grid-control-plane" not in policies(), timeout=CONVERGE)
    k8s.wait_for(lambda: not policies(), timeout=CONVERGE)  # the partition's follows its cluster's spec


def test_a_cluster_whose_heartbeat_would_lose_every_long_task_is_refused_naming_both_settings(
    crds: controlplane.ControlPlane, namespace: str
) -> None:
    body = external_cluster("redis://127.0.0.1:1/0", name="slow-heartbeat")
    body["spec"]["lease"] = {"leaseSeconds": 3, "heartbeatSeconds": 10}
    result = crds.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body), check=False)
    assert result.returncode != 0
    assert "lease.heartbeatSeconds must be above 0 and at most half of lease.leaseSeconds" in result.stderr
    assert not exists(crds, namespace, "akc/slow-heartbeat")


def test_the_tasks_of_a_cancelled_session_no_longer_hold_the_partitions_pods(
    k8s: controlplane.ControlPlane,
    operator: operator_process.Operator,
    redis_server: str,
    namespace: str,
    tmp_path: pathlib.Path,
) -> None:
    """Real tasks from the official client, queued with no agent to take them
    (pods that cannot start: no GPU node, an image that cannot be pulled),
    then their session cancelled: the partition goes back to zero after its
    cooldown, since only runnable tasks count."""
    import grpc
    from armonik.client import ArmoniKSessions
    from armonik.common import TaskStatus

    from pyarmonik.settings import LocalSettings
    from tests.grid_thread import GridThread
    from tests.integration.test_agent_worker import Client

    partition_id = f"cancel-{namespace[-8:]}"
    autoscaling = {"enabled": True, "targetTasksPerPod": 2, "scaleDownCooldownSeconds": 3}
    k8s.apply(external_cluster(redis_server), namespace=namespace)
    k8s.apply(partition(partition_id, podReserved=0, podMax=4, autoscaling=autoscaling), namespace=namespace)
    name = f"grid-partition-{partition_id}"
    k8s.wait_for(lambda: replicas_of(k8s, namespace, name) == 0, timeout=CONVERGE)
    settings = LocalSettings(port=0, agents=0, data_dir=tmp_path, redis_url=redis_server, partitions=[partition_id])
    api = GridThread(settings).start()
    try:
        with grpc.insecure_channel(api.address) as channel:
            client = Client(channel, partition_id=partition_id)
            tasks = [client.submit({"do": "echo", "value": n})[0] for n in range(7)]
            k8s.wait_for(lambda: replicas_of(k8s, namespace, name) == 4, timeout=CONVERGE)
            ArmoniKSessions(channel).cancel_session(client.session_id)
            for task in tasks:
                client.wait_status(task.id, TaskStatus.CANCELLED)
            k8s.wait_for(lambda: replicas_of(k8s, namespace, name) == 0, timeout=CONVERGE)
    finally:
        api.stop()


# -- what a cluster user meets ---------------------------------------------------------------
def test_no_resource_carries_a_finalizer_and_an_older_operators_is_removed(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    """Deleting a grid never waits on the operator: it puts no finalizer, and
    takes off the one an older version put."""
    cluster = external_cluster(redis_server)
    cluster["metadata"]["finalizers"] = ["pyarmonik.io/finalizer"]
    k8s.apply(cluster, namespace=namespace)
    k8s.apply(partition("default"), namespace=namespace)
    k8s.wait_for(lambda: exists(k8s, namespace, "deployment", "grid-partition-default"), timeout=CONVERGE)

    def finalizers() -> list[list[str]]:
        return [o["metadata"].get("finalizers") or [] for o in get(k8s, namespace, "akc,akp")["items"]]

    k8s.wait_for(lambda: finalizers() == [[], []], timeout=CONVERGE)


def test_a_new_clusters_minio_credentials_are_generated_once(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    """Several new clusters at once, each reconciled by its create handler and
    by the resync loop: each MinIO Secret is written with one set of
    credentials, ever."""
    names = [f"grid{index}" for index in range(4)]
    with k8s.watching(namespace, "secrets") as versions:
        for name in names:
            cluster = external_cluster(redis_server, name=name)
            # A managed MinIO whose volume never binds: its Secret is all this test needs.
            cluster["spec"]["objectStorage"] = {"mode": "managed", "managed": {"storageClassName": "none"}}
            k8s.apply(cluster, namespace=namespace)

        def reconciled(name: str) -> bool:
            status = get(k8s, namespace, f"akc/{name}").get("status") or {}
            return bool(status.get("conditions")) and exists(k8s, namespace, "service", f"{name}-minio")

        for name in names:
            k8s.wait_for(lambda name=name: reconciled(name), timeout=CONVERGE)  # type: ignore[misc]
        # One more reconcile of each, after the first ones: a deleted child is recreated.
        k8s.kubectl("delete", "-n", namespace, "services", *(f"{name}-minio" for name in names))
        for name in names:
            k8s.wait_for(lambda name=name: exists(k8s, namespace, "service", f"{name}-minio"), timeout=CONVERGE)  # type: ignore[misc]
    written: dict[str, set[str]] = {}
    for secret in versions:
        written.setdefault(secret["metadata"]["name"], set()).add(json.dumps(secret.get("data"), sort_keys=True))
    assert {name: len(data) for name, data in written.items()} == {f"{name}-minio-credentials": 1 for name in names}


def test_the_data_volumes_stay_unless_the_cluster_says_delete_with_cluster(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, namespace: str
) -> None:
    storage_class = f"pv-{namespace}"
    for index in range(4):
        k8s.apply(persistent_volume(f"{storage_class}-{index}", storage_class))
    try:
        for name, delete in (("keep", False), ("drop", True)):
            cluster = example("cluster.yaml")
            cluster["metadata"]["name"] = name
            cluster["spec"]["redis"]["managed"]["storageClassName"] = storage_class
            cluster["spec"]["objectStorage"]["managed"]["storageClassName"] = storage_class
            if delete:
                cluster["spec"]["persistence"] = {"deleteWithCluster": True}
            k8s.apply(cluster, namespace=namespace)
        claims = {name: {f"data-{name}-redis-0", f"data-{name}-minio-0"} for name in ("keep", "drop")}

        def bound() -> set[str]:
            listed = get(k8s, namespace, "pvc")["items"]
            return {c["metadata"]["name"] for c in listed if c["status"].get("phase") == "Bound"}

        def explain() -> str:
            return k8s.describe(namespace, "akc", "statefulsets", "pvc", "pods")

        k8s.wait_for(lambda: bound() == claims["keep"] | claims["drop"], timeout=90, explain=explain)

        def owned_by_their_statefulset() -> bool:
            listed = {c["metadata"]["name"]: c for c in get(k8s, namespace, "pvc")["items"]}
            return all(owner_kinds(listed[claim]) == {"StatefulSet"} for claim in claims["drop"])

        k8s.wait_for(owned_by_their_statefulset, timeout=CONVERGE, explain=explain)
        k8s.kubectl("delete", "-n", namespace, "akc/keep", "akc/drop", "--timeout=60s")
        k8s.wait_for(lambda: not get(k8s, namespace, "statefulsets")["items"], timeout=CONVERGE, explain=explain)
        left = lambda: {c["metadata"]["name"] for c in get(k8s, namespace, "pvc")["items"]}  # noqa: E731
        k8s.wait_for(lambda: left() == claims["keep"], timeout=CONVERGE, explain=explain)
    finally:
        k8s.kubectl("delete", "pv", *(f"{storage_class}-{index}" for index in range(4)), "--wait=false", check=False)


#: KEDA's ScaledObject kind, as far as the API server needs to serve it.
KEDA_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "scaledobjects.keda.sh"},
    "spec": {
        "group": "keda.sh",
        "names": {"kind": "ScaledObject", "listKind": "ScaledObjectList", "plural": "scaledobjects",
                  "singular": "scaledobject"},
        "scope": "Namespaced",
        "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
    },
}  # fmt: skip


def test_a_missing_keda_is_one_warning_and_keda_installed_later_is_picked_up_promptly(
    k8s: controlplane.ControlPlane, operator: operator_process.Operator, redis_server: str, namespace: str
) -> None:
    k8s.apply(external_cluster(redis_server), namespace=namespace)
    k8s.apply(partition("scaled", autoscaling={"enabled": True, "engine": "keda"}), namespace=namespace)

    def scaler() -> dict[str, Any]:
        return condition(get(k8s, namespace, "akp/scaled"), "AutoscalerReady")

    k8s.wait_for(lambda: scaler().get("reason") == "KedaMissing", timeout=CONVERGE)
    for _ in range(3):  # three more reconciles at least: a deleted child comes back each time
        k8s.kubectl("delete", "-n", namespace, "pdb", "grid-partition-scaled")
        k8s.wait_for(lambda: exists(k8s, namespace, "pdb", "grid-partition-scaled"), timeout=CONVERGE)
    events = [e for e in get(k8s, namespace, "events")["items"] if e["reason"] == "KedaMissing"]
    assert sum(e.get("count") or 1 for e in events) == 1, events
    try:
        k8s.apply(KEDA_CRD)
        # Noticed in seconds (the operator checks a missing kind again every 10 s), not minutes.
        k8s.wait_for(lambda: exists(k8s, namespace, "scaledobject", "grid-partition-scaled"), timeout=CONVERGE)
        k8s.wait_for(lambda: scaler().get("status") == "True", timeout=CONVERGE)
    finally:
        k8s.kubectl("delete", "crd", "scaledobjects.keda.sh", "--wait=false", check=False)
