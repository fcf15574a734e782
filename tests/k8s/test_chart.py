"""The Helm chart, offline: it lints, renders valid Kubernetes 1.34 objects for
every CI values file, and refuses bad values through values.schema.json.

No cluster is needed, only helm (``tests.k8s.chart.helm_binary``): locally a
missing helm skips these tests, under ``CI=true`` it fails them. Built-in
kinds are validated with kubernetes-validate (strict, 1.34); our own custom
resources against the CRDs' openAPIV3Schema, closed to unknown fields.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

import pyarmonik
from pyarmonik.control_plane import auth_config
from pyarmonik.operator import specs
from pyarmonik.settings import OperatorSettings

from . import chart

KUBERNETES_VERSION = "1.34"
SERVICE_MONITOR_API = "monitoring.coreos.com/v1/ServiceMonitor"
CI_IDS = [path.name for path in chart.CI_VALUES]


def render(helm: str, *arguments: str, **kwargs: str) -> list[dict[str, Any]]:
    return chart.render(helm, *arguments, **kwargs)


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = of_kind(objects, kind)
    return found


def validate(obj: dict[str, Any], crds: dict[str, dict[str, Any]]) -> None:
    if obj["apiVersion"].startswith(f"{chart.GROUP}/"):
        (version,) = crds[obj["kind"]]["spec"]["versions"]
        assert obj["apiVersion"] == f"{chart.GROUP}/{version['name']}"
        jsonschema.validate(obj, chart.strict_schema(version["schema"]["openAPIV3Schema"]))
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def refusal(helm: str, *arguments: str) -> str:
    """Why helm template refuses to render; fails when it renders."""
    result = chart.helm(helm, "template", "demo", str(chart.CHART), *arguments)
    assert result.returncode != 0, f"helm template {' '.join(arguments)} rendered"
    return result.stderr


# -- Lint and validity ------------------------------------------------------------


def test_the_ci_values_files_are_the_documented_three() -> None:
    assert CI_IDS == ["cluster-values.yaml", "default-values.yaml", "namespaced-values.yaml"]


@pytest.mark.parametrize("values_file", chart.CI_VALUES, ids=CI_IDS)
def test_helm_lint_strict_passes(helm: str, values_file: pathlib.Path) -> None:
    result = chart.helm(helm, "lint", "--strict", str(chart.CHART), "--values", str(values_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values_file", chart.CI_VALUES, ids=CI_IDS)
def test_every_rendered_object_is_valid_for_kubernetes_1_34(helm: str, values_file: pathlib.Path) -> None:
    objects = render(helm, "--values", str(values_file))
    crds = chart.crds()
    assert objects
    for obj in objects:
        validate(obj, crds)


def test_the_crds_are_valid_and_shown_by_helm_show_crds(helm: str) -> None:
    crds = chart.crds()
    assert set(crds) == {"ArmoniKCluster", "ArmoniKPartition"}
    for crd in crds.values():
        kubernetes_validate.validate(crd, KUBERNETES_VERSION, strict=True)
    shown = chart.helm(helm, "show", "crds", str(chart.CHART))
    assert shown.returncode == 0, shown.stderr
    shown_crds = {d["metadata"]["name"]: d for d in yaml.safe_load_all(shown.stdout) if d}
    assert shown_crds == {c["metadata"]["name"]: c for c in crds.values()}


def test_every_crd_file_opens_a_yaml_document_so_that_helm_show_crds_can_be_applied() -> None:
    # helm show crds concatenates the files as they are: without the marker two
    # CRDs would run together into one document and kubectl would apply only one.
    for path in chart.CRD_FILES:
        lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
        assert lines[0] == "---", f"{path.name} must start with a --- line (after comments)"


def test_the_chart_deploys_the_pyarmonik_version_and_refuses_old_kubernetes(helm: str) -> None:
    meta = yaml.safe_load((chart.CHART / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert meta["appVersion"] == pyarmonik.__version__
    assert "incompatible with Kubernetes v1.28.0" in refusal(helm, "--kube-version", "1.28.0")


# -- What the defaults render -------------------------------------------------------


def test_the_defaults_install_the_operator_and_its_rbac_but_no_grid(helm: str) -> None:
    objects = render(helm)
    assert sorted(o["kind"] for o in objects) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "ServiceAccount",
    ]


def test_the_operator_runs_with_its_settings_from_the_config_map_and_kopf_liveness_probes(helm: str) -> None:
    objects = render(helm)
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"pyarmonik:{pyarmonik.__version__}"
    assert container["args"] == ["operator"]
    settings = one(objects, "ConfigMap")["data"]
    assert settings["PYARMONIK_LIVENESS_PORT"] == "8080"
    assert "PYARMONIK_WATCH_NAMESPACE" not in settings  # every namespace
    for probe in ("livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert pod["serviceAccountName"] == "demo-pyarmonik"


def test_the_operator_selector_never_matches_the_pods_of_a_grid_named_like_the_release(helm: str) -> None:
    selector = one(render(helm), "Deployment")["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/component"] == "operator"


def test_a_settings_change_rolls_the_operator_through_the_config_checksum(helm: str) -> None:
    def checksum(*arguments: str) -> str:
        deployment = one(render(helm, *arguments), "Deployment")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum() == checksum()
    assert checksum() != checksum("--set", "operator.logLevel=DEBUG")
    config = one(render(helm, "--set", "operator.logLevel=DEBUG"), "ConfigMap")
    assert config["data"] == {
        "PYARMONIK_LOG_LEVEL": "DEBUG",
        "PYARMONIK_LOG_FORMAT": "json",
        "PYARMONIK_LIVENESS_PORT": "8080",
        # The image of the grids that name none: the chart's own.
        "PYARMONIK_IMAGE_REPOSITORY": "pyarmonik",
        "PYARMONIK_IMAGE_TAG": pyarmonik.__version__,
    }
    pushed = one(render(helm, "--set", "image.repository=r.example/me/pyarmonik", "--set", "image.tag=v2"), "ConfigMap")
    assert (pushed["data"]["PYARMONIK_IMAGE_REPOSITORY"], pushed["data"]["PYARMONIK_IMAGE_TAG"]) == (
        "r.example/me/pyarmonik",
        "v2",
    )
    # Every key is a setting of the operator's.
    assert OperatorSettings.model_validate(
        {name.removeprefix("PYARMONIK_").lower(): value for name, value in pushed["data"].items()}
    )


def test_operator_disabled_still_installs_rbac_and_the_custom_resources(helm: str) -> None:
    objects = render(
        helm, "--values", str(chart.CHART / "ci" / "cluster-values.yaml"), "--set", "operator.enabled=false"
    )
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"Deployment", "ConfigMap"}
    assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ArmoniKCluster", "ArmoniKPartition"} <= kinds


# -- RBAC ---------------------------------------------------------------------------


def rules_by_group(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                found.setdefault((group, resource), set()).update(rule["verbs"])
    return found


def test_the_cluster_role_grants_exactly_what_the_operator_needs(helm: str) -> None:
    rules = rules_by_group(one(render(helm), "ClusterRole")["rules"])
    write = {"get", "list", "watch", "create", "update", "patch", "delete"}
    assert rules == {
        ("pyarmonik.io", "armonikclusters"): {"get", "list", "watch", "patch", "update"},
        ("pyarmonik.io", "armonikpartitions"): {"get", "list", "watch", "patch", "update"},
        ("pyarmonik.io", "armonikclusters/status"): {"get", "patch", "update"},
        ("pyarmonik.io", "armonikpartitions/status"): {"get", "patch", "update"},
        ("pyarmonik.io", "armonikpartitions/scale"): {"get", "patch", "update"},
        ("apps", "deployments"): write,
        ("apps", "statefulsets"): write,
        ("", "services"): write,
        ("", "configmaps"): write,
        ("", "secrets"): write,
        ("", "serviceaccounts"): write,
        ("", "persistentvolumeclaims"): {"get", "list"},
        ("", "pods"): {"get", "list", "watch", "patch"},
        ("", "events"): {"create", "patch"},
        ("policy", "poddisruptionbudgets"): write,
        ("rbac.authorization.k8s.io", "roles"): write,
        ("rbac.authorization.k8s.io", "rolebindings"): write,
        ("networking.k8s.io", "networkpolicies"): write,
        ("networking.k8s.io", "ingresses"): write,
        ("keda.sh", "scaledobjects"): write,
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
    }


def test_a_watched_namespace_gets_a_role_and_only_crd_reading_stays_cluster_wide(helm: str) -> None:
    objects = render(helm, "--values", str(chart.CHART / "ci" / "namespaced-values.yaml"))
    role, binding = one(objects, "Role"), one(objects, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "grid"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "demo-pyarmonik", "namespace": "pyarmonik"}]
    assert ("apps", "deployments") in rules_by_group(role["rules"])
    assert rules_by_group(one(objects, "ClusterRole")["rules"]) == {
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"}
    }
    assert one(objects, "ConfigMap")["data"]["PYARMONIK_WATCH_NAMESPACE"] == "grid"
    assert {o["metadata"]["namespace"] for o in objects if o["apiVersion"].startswith("pyarmonik.io/")} == {"grid"}


def test_rbac_create_false_renders_no_rbac(helm: str) -> None:
    kinds = {o["kind"] for o in render(helm, "--set", "rbac.create=false", "--set", "serviceAccount.create=false")}
    assert kinds == {"ConfigMap", "Deployment"}


# -- The grid from values -----------------------------------------------------------


def test_the_cluster_takes_the_chart_image_unless_its_spec_names_one(helm: str) -> None:
    cluster_values = str(chart.CHART / "ci" / "cluster-values.yaml")
    cluster = one(render(helm, "--values", cluster_values), "ArmoniKCluster")
    assert cluster["metadata"]["name"] == "grid"
    assert cluster["spec"]["image"] == {"repository": "pyarmonik", "tag": "ci", "pullPolicy": "Never"}
    assert cluster["spec"]["controlPlane"]["replicas"] == 2
    own = one(render(helm, "--values", cluster_values, "--set", "cluster.spec.image.tag=mine"), "ArmoniKCluster")
    assert own["spec"]["image"] == {"repository": "pyarmonik", "tag": "mine", "pullPolicy": "Never"}


def test_the_cluster_is_named_after_the_release_by_default(helm: str) -> None:
    cluster = one(render(helm, "--set", "cluster.enabled=true", release="grid7"), "ArmoniKCluster")
    assert cluster["metadata"]["name"] == "grid7"
    assert cluster["spec"]["image"]["tag"] == pyarmonik.__version__


def test_partitions_refer_to_the_chart_cluster_and_keep_their_gpu_resources(helm: str) -> None:
    objects = render(helm, "--values", str(chart.CHART / "ci" / "cluster-values.yaml"))
    partitions = {p["metadata"]["name"]: p for p in of_kind(objects, "ArmoniKPartition")}
    assert set(partitions) == {"default", "gpu"}
    assert {p["spec"]["clusterRef"]["name"] for p in partitions.values()} == {"grid"}
    assert partitions["gpu"]["spec"]["worker"]["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert "nvidia.com/gpu" not in str(partitions["default"]["spec"])


def test_a_partition_may_name_another_cluster(helm: str) -> None:
    objects = render(
        helm, "--set", "partitions[0].name=p", "--set", "partitions[0].spec.worker.image=w:1",
        "--set", "partitions[0].spec.clusterRef.name=other",
    )  # fmt: skip
    assert one(objects, "ArmoniKPartition")["spec"]["clusterRef"] == {"name": "other"}


def test_a_partition_spec_the_crd_refuses_is_caught_by_the_crd_schema(helm: str) -> None:
    objects = render(
        helm, "--set", "partitions[0].name=p", "--set", "partitions[0].spec.worker.image=w:1",
        "--set", "partitions[0].spec.preemptionPercentage=150",
    )  # fmt: skip
    with pytest.raises(jsonschema.ValidationError):
        validate(one(objects, "ArmoniKPartition"), chart.crds())
    typo = render(helm, "--set", "partitions[0].name=p", "--set", "partitions[0].spec.worker.image=w:1",
                  "--set", "partitions[0].spec.podMaxx=3")  # fmt: skip
    with pytest.raises(jsonschema.ValidationError, match="podMaxx"):
        validate(one(typo, "ArmoniKPartition"), chart.crds())


# -- Hardening ----------------------------------------------------------------------

MTLS = ("--set", "cluster.enabled=true", "--set", "cluster.spec.tls.secretName=grid-tls",
        "--set", "cluster.spec.tls.clientAuth=true")  # fmt: skip


def test_the_network_policies_let_in_this_releases_operator_pods_from_their_namespace(helm: str) -> None:
    objects = render(helm, "--values", str(chart.CHART / "ci" / "cluster-values.yaml"), namespace="ops")
    (peer,) = one(objects, "ArmoniKCluster")["spec"]["networkPolicy"]["operatorFrom"]
    operator_pods = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}
    assert peer["podSelector"]["matchLabels"].items() <= operator_pods.items()
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "demo"
    # The CRD's default, for operators the chart did not install, selects the chart's operator pods too.
    assert specs.OPERATOR_POD_LABELS.items() <= operator_pods.items()


def test_the_specs_own_network_policy_fields_win_over_the_charts(helm: str) -> None:
    objects = render(helm, "--set", "cluster.enabled=true", "--set", "cluster.spec.networkPolicy.enabled=false",
                     "--set", "cluster.spec.networkPolicy.operatorFrom[0].podSelector.matchLabels.app=mine",
                     )  # fmt: skip
    policy = one(objects, "ArmoniKCluster")["spec"]["networkPolicy"]
    assert policy == {"enabled": False, "operatorFrom": [{"podSelector": {"matchLabels": {"app": "mine"}}}]}
    no_operator = render(helm, "--set", "cluster.enabled=true", "--set", "operator.enabled=false")
    assert "networkPolicy" not in one(no_operator, "ArmoniKCluster")["spec"], "the CRD's default then applies"


def test_auth_is_off_by_default_and_without_mtls(helm: str) -> None:
    for arguments in (("--set", "cluster.enabled=true"), ("--set", "cluster.enabled=true",
                                                        "--set", "cluster.spec.tls.secretName=grid-tls")):  # fmt: skip
        objects = render(helm, *arguments)
        assert "auth" not in one(objects, "ArmoniKCluster")["spec"]
        assert [config["metadata"]["name"] for config in of_kind(objects, "ConfigMap")] == ["demo-pyarmonik"]


def test_mtls_turns_auth_on_with_the_charts_config_which_the_control_plane_loads(
    helm: str, tmp_path: pathlib.Path
) -> None:
    objects = render(helm, *MTLS)
    crds = chart.crds()
    for obj in objects:
        validate(obj, crds)
    (config,) = [c for c in of_kind(objects, "ConfigMap") if c["metadata"]["name"].startswith("demo-auth-")]
    assert one(objects, "ArmoniKCluster")["spec"]["auth"] == {"configMapName": config["metadata"]["name"],
                                                               "key": "auth.yaml"}  # fmt: skip
    path = tmp_path / "auth.yaml"
    path.write_text(config["data"]["auth.yaml"])
    loaded = auth_config.load(path)
    assert loaded is not None  # no user: every call refused until the values add some


def test_a_new_auth_config_is_a_new_config_map_so_the_control_plane_rolls(helm: str) -> None:
    def config_map_name(*arguments: str) -> str:
        return str(one(render(helm, *MTLS, *arguments), "ArmoniKCluster")["spec"]["auth"]["configMapName"])

    assert config_map_name() == config_map_name()
    changed = config_map_name("--set", "cluster.auth.config.users[0].name=alice",
                              "--set", "cluster.auth.config.users[0].cn=alice")  # fmt: skip
    assert changed != config_map_name()


def test_auth_follows_its_switch_and_yields_to_the_specs_own(helm: str) -> None:
    assert "auth" not in one(render(helm, *MTLS, "--set", "cluster.auth.enabled=false"), "ArmoniKCluster")["spec"]
    own = render(helm, *MTLS, "--set", "cluster.spec.auth.secretName=mine")
    assert one(own, "ArmoniKCluster")["spec"]["auth"] == {"secretName": "mine"}
    assert not [c for c in of_kind(own, "ConfigMap") if "-auth-" in c["metadata"]["name"]]
    proxied = render(helm, "--set", "cluster.enabled=true", "--set", "cluster.auth.enabled=true",
                     "--set", "cluster.auth.trustedProxyHeaders=true")  # fmt: skip
    assert one(proxied, "ArmoniKCluster")["spec"]["auth"]["trustedProxyHeaders"] is True


def test_the_readmes_mtls_values_render_a_valid_grid_with_its_users(helm: str, tmp_path: pathlib.Path) -> None:
    readme = (chart.CHART / "README.md").read_text()
    (block,) = [b for b in readme.split("```yaml\n")[1:] if b.startswith("# values-mtls.yaml")]
    values = tmp_path / "values-mtls.yaml"
    values.write_text(block.split("```")[0])
    objects = render(helm, "--values", str(values))
    crds = chart.crds()
    for obj in objects:
        validate(obj, crds)
    (config,) = [c for c in of_kind(objects, "ConfigMap") if "-auth-" in c["metadata"]["name"]]
    path = tmp_path / "auth.yaml"
    path.write_text(config["data"]["auth.yaml"])
    auth_config.load(path)
    assert "alice" in config["data"]["auth.yaml"]


def test_auth_on_without_a_way_to_identify_callers_is_refused(helm: str) -> None:
    error = refusal(helm, "--set", "cluster.enabled=true", "--set", "cluster.auth.enabled=true")
    assert "nothing identifies the callers" in error, error
    assert "enabled" in refusal(helm, "--set", "cluster.auth.enabled=maybe")


# -- Monitoring ---------------------------------------------------------------------


def test_the_service_monitor_is_off_by_default(helm: str) -> None:
    assert not of_kind(render(helm, "--api-versions", SERVICE_MONITOR_API), "ServiceMonitor")


def test_the_service_monitor_needs_the_prometheus_operator_api(helm: str) -> None:
    assert not of_kind(render(helm, "--set", "metrics.serviceMonitor.enabled=true"), "ServiceMonitor")
    objects = render(helm, "--set", "metrics.serviceMonitor.enabled=true", "--api-versions", SERVICE_MONITOR_API)
    monitor = one(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "pyarmonik",
        "app.kubernetes.io/managed-by": "pyarmonik-operator",
    }
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]


# -- values.yaml, its schema and the README ---------------------------------------------


def test_the_readme_values_table_is_the_one_generated_from_values_yaml() -> None:
    readme = (chart.CHART / "README.md").read_text()
    assert chart.values_table() in readme, "regenerate it: python -m tests.k8s.chart"


def test_every_value_is_documented() -> None:
    values = yaml.safe_load((chart.CHART / "values.yaml").read_text())
    documented = {key for key, _ in chart.values_rows((chart.CHART / "values.yaml").read_text())}

    def undocumented(node: dict[str, Any], prefix: str) -> list[str]:
        found = []
        for key, value in node.items():
            path = f"{prefix}{key}"
            if path in documented:
                continue
            if isinstance(value, dict) and value:
                found += undocumented(value, f"{path}.")
            else:
                found.append(path)
        return found

    assert undocumented(values, "") == []


def test_the_values_schema_is_draft_07_and_closed_at_the_top() -> None:
    schema = yaml.safe_load((chart.CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load((chart.CHART / "values.yaml").read_text()))
    defaults = yaml.safe_load((chart.CHART / "values.yaml").read_text())
    assert set(schema["properties"]) - {"global"} == set(defaults)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--set", "operator.replicas=-1"], "replicas"),
        (["--set", "operator.replicas=2"], "replicas"),
        (["--set", "bogus=1"], "bogus"),
        (["--set", "operator.logLevel=LOUD"], "logLevel"),
        (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
        (["--set", "operator.watchNamespace=Not_A_Namespace"], "watchNamespace"),
        (["--set", "cluster.name=UPPER"], "name"),
        (["--set", "partitions[0].name=p"], "spec"),
        (["--set", "partitions[0].name=p", "--set", "partitions[0].spec.podMax=3"], "worker"),
    ],
    ids=["negative-replicas", "two-replicas", "unknown-key", "log-level", "pull-policy", "namespace",
         "cluster-name", "partition-without-spec", "partition-without-worker"],
)  # fmt: skip
def test_values_the_schema_refuses_fail_helm_template_and_lint(helm: str, arguments: list[str], complaint: str) -> None:
    error = refusal(helm, *arguments)
    assert "values don't meet the specifications of the schema" in error, error
    assert complaint in error, error
    lint = chart.helm(helm, "lint", "--strict", str(chart.CHART), *arguments)
    assert lint.returncode != 0, lint.stdout
