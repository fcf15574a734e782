"""The grid's ServiceAccount ``<cluster>-grid``, its Role and RoleBinding.

The grid's pods run under this account rather than the namespace's
``default`` one, with no token mounted: today they never call the API. The
Role (get and patch pods in the namespace) is reserved for the autoscaler,
which will mark idle pods cheap to delete before scaling down; granting it
now keeps the account's permissions stable when that lands.
"""

from __future__ import annotations

from typing import Any

from pyarmonik.operator import model
from pyarmonik.operator.builders import common

#: Shared by the control plane and the partitions, so neither component's.
COMPONENT = "grid"


def build_grid_service_account(cluster_resource: model.Cluster) -> dict[str, Any]:
    cluster, namespace = cluster_resource.name, cluster_resource.namespace
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": common.metadata(common.grid_account_name(cluster), namespace, common.labels(cluster, COMPONENT)),
        "automountServiceAccountToken": False,
    }


def build_grid_role(cluster_resource: model.Cluster) -> dict[str, Any]:
    cluster, namespace = cluster_resource.name, cluster_resource.namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": common.metadata(common.grid_account_name(cluster), namespace, common.labels(cluster, COMPONENT)),
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]}],
    }


def build_grid_role_binding(cluster_resource: model.Cluster) -> dict[str, Any]:
    cluster, namespace = cluster_resource.name, cluster_resource.namespace
    name = common.grid_account_name(cluster)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": common.metadata(name, namespace, common.labels(cluster, COMPONENT)),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
