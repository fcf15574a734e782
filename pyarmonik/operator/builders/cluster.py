"""Every child of an ArmoniKCluster, in the order they are best applied.

The kopf handlers call :func:`build_cluster_children` on create and on every
change, adopt each object and apply it; what the cluster needs is decided
here, once (a managed Redis or MinIO, or none), not in the handlers. One
builder module per kind of child: a new optional component (an Admin GUI)
is one more module and one more ``if`` here.
"""

from __future__ import annotations

import copy
from typing import Any

from pyarmonik.operator import model
from pyarmonik.operator.builders import control_plane, gui, network, object_storage, rbac, redis


def build_cluster_children(cluster: model.Cluster, *, secrets: dict[str, str]) -> list[dict[str, Any]]:
    """The grid's ServiceAccount, Role and RoleBinding; its NetworkPolicies,
    before the pods they protect, so that no pod starts unprotected; the
    managed Redis and MinIO (Secret first) when the spec asks for them; then
    the control plane, and the Admin GUI when asked for.

    ``secrets`` holds the MinIO root credentials (``accessKey``,
    ``secretKey``): those of the existing ``<cluster>-minio-credentials``
    Secret (:func:`object_storage.credentials_from_secret`), else new ones
    (:func:`object_storage.new_minio_credentials`). Unused with an external
    S3 service."""
    spec = cluster.spec
    children = [
        rbac.build_grid_service_account(cluster),
        rbac.build_grid_role(cluster),
        rbac.build_grid_role_binding(cluster),
        *network.build_cluster_policies(cluster),
    ]
    if spec.redis.mode == "managed":
        children += [redis.build_redis_service(cluster), redis.build_redis_statefulset(cluster)]
    if spec.object_storage.mode == "managed":
        children += [
            object_storage.build_minio_secret(cluster, secrets),
            object_storage.build_minio_service(cluster),
            object_storage.build_minio_statefulset(cluster),
        ]
    children += [
        control_plane.build_control_plane_service(cluster),
        control_plane.build_control_plane_deployment(cluster),
        control_plane.build_control_plane_pdb(cluster),
        *gui.build_gui_children(cluster),
    ]
    return copy.deepcopy(children)  # no dict shared with the parsed resource
