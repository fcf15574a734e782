"""build_partition_children: what an ArmoniKPartition becomes."""

from __future__ import annotations

from typing import Any

import k8s_bodies
import pytest

from pyarmonik.core import models
from pyarmonik.operator import env
from pyarmonik.operator.builders import common, partition, worker_supervisor

AGENT_CHANNELS = {
    "ComputePlane__AgentChannel__Address": "/cache/armonik_agent.sock",
    "ComputePlane__WorkerChannel__Address": "/cache/armonik_worker.sock",
}
SOCKET_TYPES = {
    "ComputePlane__AgentChannel__SocketType": "unixdomainsocket",
    "ComputePlane__WorkerChannel__SocketType": "unixdomainsocket",
}


def _deployment(partition_body: dict[str, Any], cluster_body: dict[str, Any]) -> dict[str, Any]:
    return k8s_bodies.one(
        partition.build_partition_children(
            k8s_bodies.parsed_partition(partition_body), k8s_bodies.parsed_cluster(cluster_body)
        ),
        "Deployment",
    )


@pytest.mark.parametrize("example", ["partition-cpu.yaml", "partition-gpu.yaml"])
def test_every_child_of_the_example_partitions_is_valid_for_kubernetes_1_34(
    example: str, cluster_body: dict[str, Any]
) -> None:
    for child in partition.build_partition_children(
        k8s_bodies.parsed_partition(k8s_bodies.load_example(example)), k8s_bodies.parsed_cluster(cluster_body)
    ):
        k8s_bodies.validate(child)


def test_every_child_of_a_fully_specified_partition_is_valid_for_kubernetes_1_34(
    full_partition_body: dict[str, Any], full_cluster_body: dict[str, Any]
) -> None:
    for child in partition.build_partition_children(
        k8s_bodies.parsed_partition(full_partition_body), k8s_bodies.parsed_cluster(full_cluster_body)
    ):
        k8s_bodies.validate(child)


def test_the_children_are_named_and_labelled_after_cluster_and_partition(
    cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    children = partition.build_partition_children(
        k8s_bodies.parsed_partition(cpu_partition_body), k8s_bodies.parsed_cluster(cluster_body)
    )
    assert k8s_bodies.kinds(children) == [
        ("NetworkPolicy", "grid-partition-default"),
        ("Deployment", "grid-partition-default"),
        ("PodDisruptionBudget", "grid-partition-default"),
    ]
    expected = {
        "app.kubernetes.io/name": "pyarmonik",
        "app.kubernetes.io/instance": "grid",
        "app.kubernetes.io/component": "partition",
        "app.kubernetes.io/managed-by": "pyarmonik-operator",
        "pyarmonik.io/cluster": "grid",
        "pyarmonik.io/partition": "default",
    }
    deployment = k8s_bodies.one(children, "Deployment")
    for labels in (child["metadata"]["labels"] for child in children):
        assert labels == expected
    assert deployment["spec"]["template"]["metadata"]["labels"] == expected
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= expected.items() and selector["pyarmonik.io/partition"] == "default"
    assert k8s_bodies.one(children, "PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": selector},
    }
    assert k8s_bodies.one(children, "NetworkPolicy")["spec"]["podSelector"] == {"matchLabels": selector}


def test_the_status_selector_selects_the_deployments_pods(
    cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    selector = _deployment(cpu_partition_body, cluster_body)["spec"]["selector"]["matchLabels"]
    text = partition.partition_selector(
        k8s_bodies.parsed_partition(cpu_partition_body), k8s_bodies.parsed_cluster(cluster_body)
    )
    assert dict(pair.split("=") for pair in text.split(",")) == selector


def test_a_partition_id_unfit_for_object_names_still_names_valid_distinct_children(
    full_partition_body: dict[str, Any], full_cluster_body: dict[str, Any]
) -> None:
    deployment = _deployment(full_partition_body, full_cluster_body)
    name = deployment["metadata"]["name"]
    assert name.startswith("big-partition-gpu-a100-large-")
    assert name != common.partition_name("big", "gpu-a100-large")
    assert deployment["metadata"]["labels"]["pyarmonik.io/partition"] == "gpu_A100.large"


def test_the_partition_id_defaults_to_the_resource_name(cpu_partition_body: dict[str, Any]) -> None:
    assert "partitionId" not in cpu_partition_body["spec"]
    assert k8s_bodies.parsed_partition(cpu_partition_body).partition_id == "default"


def test_the_agent_serves_its_partition_with_the_armonik_pod_layout(
    cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    agent = k8s_bodies.container(_deployment(cpu_partition_body, cluster_body), "agent")
    assert agent["command"] == ["pyarmonik", "agent"]
    assert agent["image"] == "pyarmonik:0.1.0"
    variables = k8s_bodies.env_of(agent)
    assert variables["PYARMONIK_PARTITION"] == "default"
    assert variables["PYARMONIK_SHARED_DIR"] == "/cache/shared"
    assert variables.items() >= {**AGENT_CHANNELS, **SOCKET_TYPES}.items()
    assert variables["PYARMONIK_REDIS_URL"] == "redis://grid-redis.science.svc:6379/0"
    assert variables["PYARMONIK_S3_SECRET_KEY"] == {
        "secretKeyRef": {"name": "grid-minio-credentials", "key": "secretKey"}
    }
    assert (variables["PYARMONIK_LEASE_SECONDS"], variables["PYARMONIK_GRACE_SECONDS"]) == ("15.0", "15.0")
    assert "PYARMONIK_HEARTBEAT_SECONDS" not in variables  # the agent's default: a fifth of the lease
    assert variables["PYARMONIK_PROBE_PORT"] == "8080"


def test_the_clusters_heartbeat_reaches_its_agents(
    cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    cluster_body["spec"]["lease"] = {"leaseSeconds": 20, "heartbeatSeconds": 2.5}
    agent = k8s_bodies.container(_deployment(cpu_partition_body, cluster_body), "agent")
    assert k8s_bodies.env_of(agent)["PYARMONIK_HEARTBEAT_SECONDS"] == "2.5"


def test_the_agent_is_probed_on_its_health_endpoints(
    cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    agent = k8s_bodies.container(_deployment(cpu_partition_body, cluster_body), "agent")
    assert agent["ports"] == [{"name": "probes", "containerPort": 8080}]
    assert agent["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert agent["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert agent["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert agent["startupProbe"]["failureThreshold"] == 30


def test_the_worker_runs_the_users_image_beside_armoniks_channel_variables(
    full_partition_body: dict[str, Any], full_cluster_body: dict[str, Any]
) -> None:
    worker = k8s_bodies.container(_deployment(full_partition_body, full_cluster_body), "worker")
    assert worker["image"] == "registry.example.com/trainer:3"
    assert worker["imagePullPolicy"] == "Always"
    assert k8s_bodies.env_of(worker) == {**AGENT_CHANNELS, **SOCKET_TYPES, "MODEL": "resnet"}
    assert worker["livenessProbe"]["httpGet"] == {"path": "/worker/livez", "port": 8080}
    assert worker["resources"]["limits"] == {"nvidia.com/gpu": 2}


def test_the_agent_and_the_worker_share_the_cache_volume(
    cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    pod = _deployment(cpu_partition_body, cluster_body)["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["agent", "worker"]
    for container in pod["containers"]:
        assert container["volumeMounts"] == [{"name": "cache", "mountPath": "/cache"}]
    assert pod["volumes"] == [{"name": "cache", "emptyDir": {}}]


def test_the_agent_runs_as_non_root_on_a_read_only_root_without_capabilities(
    cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    context = k8s_bodies.container(_deployment(cpu_partition_body, cluster_body), "agent")["securityContext"]
    assert context["runAsNonRoot"] is True and isinstance(context["runAsUser"], int)
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("grace", [0, 15, 120])
def test_the_pod_grace_period_outlasts_the_agents_grace(
    grace: int, cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    cluster_body["spec"]["lease"] = {"graceSeconds": grace}
    pod = _deployment(cpu_partition_body, cluster_body)["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == grace + 15 > grace


def test_a_change_of_worker_image_changes_the_pod_template(
    cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    before = _deployment(cpu_partition_body, cluster_body)["spec"]["template"]
    cpu_partition_body["spec"]["worker"]["image"] = "pyarmonik-hello-world-worker:0.2.0"
    after = _deployment(cpu_partition_body, cluster_body)["spec"]["template"]
    assert before != after
    assert k8s_bodies.container({"spec": {"template": after}}, "worker")["image"].endswith(":0.2.0")


@pytest.mark.parametrize(
    ("spec", "replicas"),
    [
        ({}, 1),
        ({"podReserved": 3}, 3),
        ({"replicas": 4}, 4),
        ({"replicas": 0, "podReserved": 2}, 2),
        ({"replicas": 50, "podMax": 10}, 10),
        ({"podReserved": 0, "podMax": 0}, 0),
    ],
)
def test_replicas_default_to_pod_reserved_and_stay_within_the_bounds(
    spec: dict[str, int], replicas: int, cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    for field in ("podReserved", "podMax"):
        cpu_partition_body["spec"].pop(field)
    cpu_partition_body["spec"].update(spec)
    assert _deployment(cpu_partition_body, cluster_body)["spec"]["replicas"] == replicas


def test_scheduling_fields_reach_the_pod(
    full_partition_body: dict[str, Any], full_cluster_body: dict[str, Any]
) -> None:
    pod = _deployment(full_partition_body, full_cluster_body)["spec"]["template"]["spec"]
    assert pod["affinity"] == full_partition_body["spec"]["affinity"]
    assert (pod["priorityClassName"], pod["runtimeClassName"]) == ("high", "nvidia")
    assert pod["imagePullSecrets"] == [{"name": "registry"}]
    assert pod["serviceAccountName"] == "big-grid"


def test_a_partition_of_another_cluster_is_refused(
    cpu_partition_body: dict[str, Any], full_cluster_body: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="belongs to cluster grid, not to big"):
        partition.build_partition_children(
            k8s_bodies.parsed_partition(cpu_partition_body), k8s_bodies.parsed_cluster(full_cluster_body)
        )


def test_a_partition_id_the_agents_would_refuse_fails_in_the_builder_naming_the_setting(
    cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    cpu_partition_body["spec"]["partitionId"] = "two words"
    with pytest.raises(env.InvalidSetting, match=r"partition \(PYARMONIK_PARTITION\)"):
        partition.build_partition_children(
            k8s_bodies.parsed_partition(cpu_partition_body), k8s_bodies.parsed_cluster(cluster_body)
        )


def test_the_partition_record_carries_the_resources_fields(full_partition_body: dict[str, Any]) -> None:
    assert partition.partition_record(k8s_bodies.parsed_partition(full_partition_body)) == models.Partition(
        partition_id="gpu_A100.large",
        parent_partition_ids=["default"],
        pod_reserved=2,
        pod_max=8,
        preemption_percentage=20,
        priority=7,
    )


def test_the_partition_record_takes_the_crd_defaults(cpu_partition_body: dict[str, Any]) -> None:
    record = partition.partition_record(k8s_bodies.parsed_partition(cpu_partition_body))
    assert (record.partition_id, record.parent_partition_ids, record.priority) == ("default", [], 1)
    assert (record.pod_reserved, record.pod_max, record.preemption_percentage) == (1, 10, 50)


def test_a_worker_command_runs_under_the_supervisor_its_agent_asks_for_restarts(
    full_partition_body: dict[str, Any], full_cluster_body: dict[str, Any]
) -> None:
    deployment = _deployment(full_partition_body, full_cluster_body)
    worker = k8s_bodies.container(deployment, "worker")
    assert worker["command"] == worker_supervisor.supervised(["python", "-m", "trainer"], "/cache/worker.restart")
    assert "args" not in worker  # the worker's args follow its command, under the supervisor
    agent = k8s_bodies.container(deployment, "agent")
    assert k8s_bodies.env_of(agent)["PYARMONIK_WORKER_RESTART_FILE"] == "/cache/worker.restart"
    assert worker["livenessProbe"]["httpGet"]["path"] == "/worker/livez"  # still the last resort


def test_an_image_entrypoint_is_run_as_is_and_its_agent_asks_for_no_restart(
    full_partition_body: dict[str, Any], full_cluster_body: dict[str, Any]
) -> None:
    del full_partition_body["spec"]["worker"]["command"]
    deployment = _deployment(full_partition_body, full_cluster_body)
    worker = k8s_bodies.container(deployment, "worker")
    assert "command" not in worker and worker["args"] == ["-m", "trainer"]
    assert "PYARMONIK_WORKER_RESTART_FILE" not in k8s_bodies.env_of(k8s_bodies.container(deployment, "agent"))
