"""Bodies of custom resources as kopf hands them to the builders, the strict
validation every built object goes through (no cluster needed), and small
readers of built objects: shared by the operator's unit tests."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import kubernetes_validate
import yaml

from pyarmonik.operator import model

ROOT = pathlib.Path(__file__).parents[3]
EXAMPLES = ROOT / "manifests" / "examples"
#: The cluster version the children must be valid for; kubernetes-validate
#: 1.37 ships its schema (v1.34.0-local-strict).
KUBERNETES = "1.34"
NAMESPACE = "science"


def load_example(name: str) -> dict[str, Any]:
    body = yaml.safe_load((EXAMPLES / name).read_text())
    # kopf bodies always carry the namespace; the example files leave it to kubectl.
    body["metadata"]["namespace"] = NAMESPACE
    return body


def parsed_cluster(body: dict[str, Any]) -> model.Cluster:
    """The cluster as the operator reads it (its default image: ``pyarmonik:<version>``)."""
    return model.parse_cluster(body)


def parsed_partition(body: dict[str, Any]) -> model.Partition:
    return model.parse_partition(body)


def full_cluster_body() -> dict[str, Any]:
    """Every field set: external Redis and S3 with their Secrets, mTLS and
    authentication, NetworkPolicies open to other namespaces."""
    return {
        "apiVersion": "pyarmonik.io/v1alpha1",
        "kind": "ArmoniKCluster",
        "metadata": {"name": "big", "namespace": NAMESPACE, "uid": "1234", "generation": 3},
        "spec": {
            "image": {"repository": "registry.example.com/pyarmonik", "tag": "0.2.0", "pullPolicy": "Always"},
            "imagePullSecrets": [{"name": "registry"}],
            "logging": {"level": "DEBUG", "format": "text"},
            "controlPlane": {
                "replicas": 3,
                "port": 6000,
                "service": {"type": "LoadBalancer", "port": 443, "annotations": {"example.com/lb": "internal"}},
                "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
                "env": [
                    {"name": "PYARMONIK_LOG_LEVEL", "value": "WARNING"},
                    {"name": "EXTRA", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
                "defaultPartition": "cpu_Large.1",
            },
            "redis": {
                "mode": "external",
                "external": {
                    "url": "redis://redis.example.com:6380/2",
                    "passwordSecretRef": {"name": "redis-auth", "key": "pw"},
                },
            },
            "objectStorage": {
                "mode": "external",
                "external": {
                    "endpoint": "s3.example.com:443",
                    "bucket": "grid-data",
                    "secure": True,
                    "region": "eu-west-3",
                    "credentialsSecretRef": {"name": "s3-auth", "accessKeyKey": "id", "secretKeyKey": "secret"},
                },
                "smallObjectBytes": 0,
            },
            "lease": {"leaseSeconds": 30, "graceSeconds": 120},
            "networkPolicy": {
                "enabled": True,
                "ingressFrom": [
                    {"namespaceSelector": {"matchLabels": {"team": "science"}}},
                    {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                ],
                "monitoringNamespaceSelector": {
                    "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["obs"]}]
                },
                "operatorFrom": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "pyarmonik"}},
                        "podSelector": {"matchLabels": {"app.kubernetes.io/component": "operator"}},
                    }
                ],
            },
            "tls": {"secretName": "big-tls", "clientAuth": True},
            "auth": {"secretName": "big-auth", "key": "users.json", "trustedProxyHeaders": False},
        },
    }


def full_partition_body() -> dict[str, Any]:
    """Every field set, a GPU worker among them."""
    return {
        "apiVersion": "pyarmonik.io/v1alpha1",
        "kind": "ArmoniKPartition",
        "metadata": {"name": "training", "namespace": NAMESPACE, "uid": "5678", "generation": 2},
        "spec": {
            "clusterRef": {"name": "big"},
            "partitionId": "gpu_A100.large",
            "worker": {
                "image": "registry.example.com/trainer:3",
                "command": ["python"],
                "args": ["-m", "trainer"],
                "env": [{"name": "MODEL", "value": "resnet"}],
                "resources": {"requests": {"cpu": "4", "nvidia.com/gpu": 2}, "limits": {"nvidia.com/gpu": 2}},
                "imagePullPolicy": "Always",
            },
            "agent": {
                "resources": {"requests": {"cpu": "100m"}},
                "env": [{"name": "PYARMONIK_HEARTBEAT_SECONDS", "value": "2"}],
            },
            "nodeSelector": {"pool": "gpu"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
                        ]
                    }
                }
            },
            "priorityClassName": "high",
            "runtimeClassName": "nvidia",
            "podReserved": 2,
            "podMax": 8,
            "replicas": 5,
            "priority": 7,
            "preemptionPercentage": 20,
            "parentPartitionIds": ["default"],
            "autoscaling": {
                "enabled": True,
                "engine": "keda",
                "targetTasksPerPod": 3,
                "scaleUpStep": 4,
                "scaleUpCooldownSeconds": 30,
                "scaleDownCooldownSeconds": 600,
                "keda": {
                    "prometheusAddress": "http://prometheus.observability.svc:9090",
                    "query": 'sum(pyarmonik_queue_tasks{partition="gpu_A100.large"})',
                    "authenticationRef": {"name": "prometheus-auth", "kind": "ClusterTriggerAuthentication"},
                },
            },
        },
    }


def validate(obj: dict[str, Any]) -> None:
    """Strict Kubernetes validation: an unknown field fails too."""
    kubernetes_validate.validate(copy.deepcopy(obj), KUBERNETES, strict=True)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's environment by name: the value, or the valueFrom."""
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in container["env"]}


def kinds(children: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(child["kind"], child["metadata"]["name"]) for child in children]


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    """The container ``name`` of a Deployment's or StatefulSet's pods."""
    return next(c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def of_kind(children: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [child for child in children if child["kind"] == kind]


def one(children: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The only child of ``kind``."""
    (found,) = [child for child in children if child["kind"] == kind]
    return found


def named(children: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(child for child in children if child["kind"] == kind and child["metadata"]["name"] == name)
