"""The chart against a real API server (the test bed): install, upgrade, the
CRD upgrade path, uninstall.

The operator runs out of the cluster in tests (no image registry here, and
kwok runs no container), so most installs set ``operator.enabled=false``: the
CRDs, the RBAC and the custom resources are installed and checked. One test
installs the operator Deployment too, which the scheduler places on a kwok
node. RBAC is checked as the operator's ServiceAccount (``kubectl auth can-i
--as``): what it must be able to do, and what it must not.
"""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from . import chart, controlplane

pytestmark = pytest.mark.k8s

CLUSTER_VALUES = chart.CHART / "ci" / "cluster-values.yaml"
NO_OPERATOR = ("--set", "operator.enabled=false")
CRD_NAMES = ("armonikclusters.pyarmonik.io", "armonikpartitions.pyarmonik.io")


@pytest.fixture
def release(namespace: str) -> str:
    """A release name of its own: the chart's cluster-scoped RBAC objects are named after it."""
    return f"r{namespace.removeprefix('test-')}"


@pytest.fixture
def other_namespace(k8s: controlplane.ControlPlane, namespace: str) -> Iterator[str]:
    name = f"{namespace}-grid"
    k8s.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        k8s.kubectl("delete", "namespace", name, "--wait=false", check=False)


def install(k8s: controlplane.ControlPlane, release: str, namespace: str, *arguments: str) -> None:
    k8s.helm("install", release, str(chart.CHART), "--namespace", namespace, *arguments)


def items(k8s: controlplane.ControlPlane, kind: str, namespace: str) -> dict[str, Any]:
    return {o["metadata"]["name"]: o for o in k8s.get(kind, "-n", namespace)["items"]}


def can(k8s: controlplane.ControlPlane, account: str, namespace: str, *request: str) -> bool:
    """Whether the ServiceAccount ``namespace/account`` may do ``request`` (kubectl auth can-i)."""
    result = k8s.kubectl(
        "auth", "can-i", *request, f"--as=system:serviceaccount:{namespace}:{account}", check=False
    )  # fmt: skip
    assert result.stdout.strip() in ("yes", "no"), result.stderr
    return result.stdout.strip() == "yes"


def values_file(tmp_path: pathlib.Path, values: dict[str, Any]) -> str:
    path = tmp_path / f"values-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def grid_values(redis_url: str) -> dict[str, Any]:
    """Values of a release holding a grid on the tests' Redis (which an
    operator out of the cluster reaches) and its partition "default", and no
    operator Deployment (kwok would run no container of it)."""
    return {
        "operator": {"enabled": False},
        "cluster": {
            "enabled": True,
            "name": "grid",
            "spec": {
                "redis": {"mode": "external", "external": {"url": redis_url}},
                "objectStorage": {"mode": "external", "external": {"endpoint": "s3.example:9000"}},
                # Pods get graceSeconds + 15 s to stop: keep deletions short.
                "lease": {"graceSeconds": 1},
            },
        },
        "partitions": [{"name": "default", "spec": {"worker": {"image": "w:1"}, "podReserved": 1}}],
    }


def test_install_creates_the_crds_rbac_and_the_grid_the_api_server_accepts(
    k8s: controlplane.ControlPlane, namespace: str, release: str
) -> None:
    install(k8s, release, namespace, "--values", str(CLUSTER_VALUES), *NO_OPERATOR)
    for crd in CRD_NAMES:
        k8s.kubectl("wait", f"crd/{crd}", "--for=condition=Established", "--timeout=30s")
    assert set(items(k8s, "akc", namespace)) == {"grid"}
    partitions = items(k8s, "akp", namespace)
    assert set(partitions) == {"default", "gpu"}
    assert partitions["gpu"]["spec"]["worker"]["resources"]["limits"] == {"nvidia.com/gpu": 1}
    # Defaults come from the CRD's schema, applied by the API server.
    assert partitions["default"]["spec"]["preemptionPercentage"] == 50
    assert not items(k8s, "deployments", namespace), "operator.enabled=false installs no operator"
    listed = k8s.kubectl("get", "akc,akp", "-n", namespace).stdout
    assert "grid" in listed and "gpu" in listed


def test_the_operator_account_may_do_its_job_and_no_more(
    k8s: controlplane.ControlPlane, namespace: str, release: str
) -> None:
    install(k8s, release, namespace, *NO_OPERATOR)
    account = f"{release}-pyarmonik"
    allowed = [
        ("create", "deployments.apps", "-n", "anywhere"),
        ("patch", "armonikpartitions.pyarmonik.io", "--subresource=status", "-n", namespace),
        ("update", "armonikpartitions.pyarmonik.io", "--subresource=scale", "-n", namespace),
        ("create", "roles.rbac.authorization.k8s.io", "-n", namespace),
        ("patch", "networkpolicies.networking.k8s.io", "-n", namespace),
        ("create", "ingresses.networking.k8s.io", "-n", namespace),
        ("patch", "pods", "-n", namespace),
        ("create", "events", "-n", namespace),
        ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
    ]
    refused = [
        ("create", "pods", "-n", namespace),
        ("delete", "persistentvolumeclaims", "-n", namespace),
        ("delete", "armonikclusters.pyarmonik.io", "-n", namespace),
        ("list", "nodes"),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "clusterkopfpeerings.kopf.dev"),
    ]
    assert [r for r in allowed if not can(k8s, account, namespace, *r)] == []
    assert [r for r in refused if can(k8s, account, namespace, *r)] == []


def test_a_namespaced_install_grants_only_the_watched_namespace(
    k8s: controlplane.ControlPlane, namespace: str, other_namespace: str, release: str
) -> None:
    install(k8s, release, namespace, "--set", f"operator.watchNamespace={other_namespace}", *NO_OPERATOR,
            "--set", "cluster.enabled=true", "--set", "partitions[0].name=default",
            "--set", "partitions[0].spec.worker.image=pyarmonik-hello-world-worker:0.1.0")  # fmt: skip
    account = f"{release}-pyarmonik"
    assert can(k8s, account, namespace, "create", "deployments.apps", "-n", other_namespace)
    assert not can(k8s, account, namespace, "create", "deployments.apps", "-n", namespace)
    assert can(k8s, account, namespace, "list", "customresourcedefinitions.apiextensions.k8s.io")
    assert set(items(k8s, "akc", other_namespace)) == {release}
    assert set(items(k8s, "akp", other_namespace)) == {"default"}


def test_a_partition_the_crd_refuses_fails_the_install(
    k8s: controlplane.ControlPlane, namespace: str, release: str, tmp_path: pathlib.Path
) -> None:
    bad = {"partitions": [{"name": "p", "spec": {"worker": {"image": "w:1"}, "podReserved": 5, "podMax": 1}}]}
    result = k8s.helm(
        "install", release, str(chart.CHART), "-n", namespace, "--values", values_file(tmp_path, bad), *NO_OPERATOR,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "podMax must be >= podReserved" in result.stderr


def test_an_mtls_grid_installs_with_the_charts_auth_config_and_says_so(
    k8s: controlplane.ControlPlane, namespace: str, release: str, tmp_path: pathlib.Path
) -> None:
    values = yaml.safe_load(CLUSTER_VALUES.read_text())
    values["cluster"]["spec"]["tls"] = {"secretName": "grid-tls", "clientAuth": True}
    values["cluster"]["auth"] = {"enabled": "auto", "config": {"users": [{"name": "alice", "cn": "alice"}]}}
    result = k8s.helm("install", release, str(chart.CHART), "-n", namespace, "--values", values_file(tmp_path, values))
    assert "Authentication is on" in result.stdout and "mTLS" in result.stdout, result.stdout
    spec = items(k8s, "akc", namespace)["grid"]["spec"]
    assert spec["auth"]["configMapName"] in items(k8s, "configmaps", namespace)
    assert spec["networkPolicy"]["operatorFrom"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": namespace}
    }


def test_upgrade_changes_the_grid_and_the_crds_upgrade_by_server_side_apply(
    k8s: controlplane.ControlPlane, namespace: str, release: str, tmp_path: pathlib.Path
) -> None:
    install(k8s, release, namespace, "--values", str(CLUSTER_VALUES), *NO_OPERATOR)
    values = yaml.safe_load(CLUSTER_VALUES.read_text())
    values["cluster"]["spec"]["controlPlane"]["replicas"] = 3
    values["partitions"].append({"name": "big", "spec": {"worker": {"image": "w:2"}, "podMax": 20}})
    k8s.helm(
        "upgrade", release, str(chart.CHART), "-n", namespace, "--values", values_file(tmp_path, values), *NO_OPERATOR
    )  # fmt: skip
    assert items(k8s, "akc", namespace)["grid"]["spec"]["controlPlane"]["replicas"] == 3
    assert set(items(k8s, "akp", namespace)) == {"default", "gpu", "big"}
    # The documented CRD upgrade (README, NOTES): helm never upgrades crds/.
    shown = k8s.helm("show", "crds", str(chart.CHART)).stdout
    k8s.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=shown)
    for crd in CRD_NAMES:
        managers = {f["manager"] for f in k8s.get(f"crd/{crd}", "--show-managed-fields")["metadata"]["managedFields"]}
        assert "kubectl" in managers, managers


def test_uninstall_removes_the_grid_and_rbac_but_keeps_the_crds(
    k8s: controlplane.ControlPlane, namespace: str, release: str
) -> None:
    install(k8s, release, namespace, "--values", str(CLUSTER_VALUES), *NO_OPERATOR)
    k8s.helm("uninstall", release, "-n", namespace, "--wait", "--timeout=60s")
    assert not items(k8s, "akc", namespace)
    assert not items(k8s, "akp", namespace)
    assert k8s.kubectl("get", "clusterrole", f"{release}-pyarmonik", check=False).returncode != 0
    for crd in CRD_NAMES:
        k8s.kubectl("get", f"crd/{crd}")


def test_the_operator_deployment_is_accepted_and_scheduled(
    k8s: controlplane.ControlPlane, namespace: str, release: str
) -> None:
    install(k8s, release, namespace)
    k8s.kubectl("rollout", "status", f"deployment/{release}-pyarmonik", "-n", namespace, "--timeout=60s")
    (pod,) = k8s.get("pods", "-n", namespace, "-l", "app.kubernetes.io/component=operator")["items"]
    assert pod["spec"]["nodeName"].startswith("kwok-cpu-"), "the operator tolerates no GPU taint"
    assert pod["spec"]["containers"][0]["args"][0] == "operator"


@pytest.mark.timeout(400)  # a few resyncs each way, on a loaded machine
def test_the_operator_reconciles_what_the_chart_installs_upgrades_and_uninstalls(
    k8s: controlplane.ControlPlane,
    namespace: str,
    release: str,
    redis_server: str,
    tmp_path: pathlib.Path,
) -> None:
    """The whole chart lifecycle with the operator running (as a local process
    pointed at the test bed): install -> children; upgrade -> they follow;
    uninstall -> the grid is garbage-collected."""
    from . import operator_process

    values = grid_values(redis_server)
    install(k8s, release, namespace, "--values", values_file(tmp_path, values))
    with operator_process.running(k8s, tmp_path):

        def replicas() -> int | None:
            found = k8s.kubectl(
                "get", "-n", namespace, "deployment", "grid-partition-default", "-o", "jsonpath={.spec.replicas}",
                check=False,
            )  # fmt: skip
            return int(found.stdout) if found.returncode == 0 and found.stdout else None

        k8s.wait_for(lambda: replicas() == 1, timeout=120)
        k8s.wait_for(lambda: "grid-control-plane" in items(k8s, "deployments", namespace), timeout=120)

        values["partitions"][0]["spec"]["podReserved"] = 2  # type: ignore[index]
        k8s.helm(
            "upgrade", release, str(chart.CHART), "--namespace", namespace, "--values", values_file(tmp_path, values)
        )
        k8s.wait_for(lambda: replicas() == 2, timeout=120)

        k8s.helm("uninstall", release, "--namespace", namespace)

        def gone() -> bool:
            return not items(k8s, "akc", namespace) and not items(k8s, "deployments", namespace)

        k8s.wait_for(gone, timeout=150)


@pytest.mark.timeout(400)  # a grid converging, then an uninstall, on a loaded machine
def test_helm_uninstall_wait_returns_while_the_operator_runs_under_the_charts_own_account(
    k8s: controlplane.ControlPlane, namespace: str, release: str, redis_server: str, tmp_path: pathlib.Path
) -> None:
    """The chart's default shape: one release holds the grid and the operator's
    ServiceAccount and RBAC, which ``helm uninstall`` deletes at the same time.
    The operator runs with a token of that ServiceAccount (out of the cluster:
    kwok runs no container), so it has the chart's rights, no more, and
    loses them with the release."""
    from . import operator_process

    values = grid_values(redis_server)
    install(k8s, release, namespace, "--values", values_file(tmp_path, values))
    kubeconfig = k8s.kubeconfig_of(namespace, f"{release}-pyarmonik", tmp_path / "operator-kubeconfig")
    with operator_process.running(k8s, tmp_path, kubeconfig=kubeconfig) as operator:

        def declared() -> bool:
            conditions = (items(k8s, "akp", namespace)["default"].get("status") or {}).get("conditions") or []
            return any(c["type"] == "Declared" and c["status"] == "True" for c in conditions)

        def explain() -> str:
            return f"{k8s.describe(namespace, 'akc', 'akp', 'deployments')}\noperator:\n{operator.tail(60)}"

        # Under the chart's account the grid converges entirely (children, status, its Redis).
        k8s.wait_for(declared, timeout=120, explain=explain)
        k8s.wait_for(lambda: "grid-control-plane" in items(k8s, "deployments", namespace), timeout=60)

        uninstalled = k8s.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "50s", check=False)
        assert uninstalled.returncode == 0, f"{uninstalled.stderr}\n{explain()}"
        assert not items(k8s, "akc", namespace) and not items(k8s, "akp", namespace)
        k8s.wait_for(lambda: not items(k8s, "deployments", namespace), timeout=60, explain=explain)
