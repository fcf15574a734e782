"""Every child of an ArmoniKCluster, in the order they are best applied.

The kopf handlers call :func:`build_cluster_children` on create and on every
change, adopt each object and apply it; what the cluster needs is decided
here, once (a managed Redis or MinIO, or none), not in the handlers.
"""

from __future__ import annotations

from typing import Any

from pyarmonik.operator.builders import common, control_plane, gui, network, object_storage, rbac, redis


def build_cluster_children(cluster_body: common.Body, *, secrets: dict[str, str]) -> list[dict[str, Any]]:
    """The grid's ServiceAccount, Role and RoleBinding; its NetworkPolicies,
    before the pods they protect, so that no pod starts unprotected; the
    managed Redis and MinIO (Secret first) when the spec asks for them; then
    the control plane, and the Admin GUI when asked for.

    ``secrets`` holds the MinIO root credentials (``accessKey``,
    ``secretKey``): those of the existing ``<cluster>-minio-credentials``
    Secret (:func:`object_storage.credentials_from_secret`), else new ones
    (:func:`object_storage.new_minio_credentials`). Unused with an external
    S3 service."""
    spec = common.cluster_spec(cluster_body)
    children = [
        rbac.build_grid_service_account(cluster_body),
        rbac.build_grid_role(cluster_body),
        rbac.build_grid_role_binding(cluster_body),
        *network.build_cluster_policies(cluster_body),
    ]
    if spec["redis"]["mode"] == "managed":
        children += [redis.build_redis_service(cluster_body), redis.build_redis_statefulset(cluster_body)]
    if spec["objectStorage"]["mode"] == "managed":
        children += [
            object_storage.build_minio_secret(cluster_body, secrets),
            object_storage.build_minio_service(cluster_body),
            object_storage.build_minio_statefulset(cluster_body),
        ]
    children += [
        control_plane.build_control_plane_service(cluster_body),
        control_plane.build_control_plane_deployment(cluster_body),
        control_plane.build_control_plane_pdb(cluster_body),
        *gui.build_gui_children(cluster_body),
    ]
    return children
