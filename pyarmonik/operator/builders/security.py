"""TLS and authentication of a cluster's control plane: its volumes and settings.

The certificate and the auth config reach the control plane as files of
read-only volumes (the ``kubernetes.io/tls`` Secret; the ConfigMap or Secret
of the auth config), and the ``SecuritySettings`` the operator renders name
those files, never their content. Volumes are mounted whole, never through
``subPath``: the kubelet then swaps a renewed Secret in place, and the
control plane, which re-reads its certificate files when they change, serves
the new certificate without a restart (the auth config is read at start).

Only the ArmoniK API speaks TLS here. Redis and S3 over TLS are the external
modes' (a ``rediss://`` URL, ``objectStorage.external.secure``): the managed
Redis and MinIO speak plaintext inside the grid's NetworkPolicies.
"""

from __future__ import annotations

from typing import Any

from pyarmonik.operator import model

TLS_DIR = "/etc/pyarmonik/tls"
AUTH_DIR = "/etc/pyarmonik/auth"
#: The keys of a ``kubernetes.io/tls`` Secret (``ca.crt`` as cert-manager adds it).
CERT_KEY, KEY_KEY, CA_KEY = "tls.crt", "tls.key", "ca.crt"
#: Owner root, group the pod's ``fsGroup``: readable by the control plane's user, by no other.
FILE_MODE = 0o440


def settings(cluster: model.Cluster) -> dict[str, Any]:
    """The ``SecuritySettings`` values of the control plane; empty when TLS and auth are off."""
    tls, auth = cluster.spec.tls, cluster.spec.auth
    values: dict[str, Any] = {}
    if tls:
        values.update(tls_cert_file=f"{TLS_DIR}/{CERT_KEY}", tls_key_file=f"{TLS_DIR}/{KEY_KEY}")
        if tls.client_auth:
            values["tls_client_ca_file"] = f"{TLS_DIR}/{CA_KEY}"
    if auth:
        values["auth_config_file"] = f"{AUTH_DIR}/{auth.key}"
        if auth.trusted_proxy_headers:
            values["trusted_proxy_headers"] = True
    return values


def volumes(cluster: model.Cluster) -> list[dict[str, Any]]:
    """The ``tls`` and ``auth`` volumes, listing the keys used: a key missing
    from its Secret stops the pod at start with the key's name, rather than
    the control plane at its first handshake."""
    tls, auth = cluster.spec.tls, cluster.spec.auth
    found = []
    if tls:
        keys = [CERT_KEY, KEY_KEY] + ([CA_KEY] if tls.client_auth else [])
        source = {"secretName": tls.secret_name, "defaultMode": FILE_MODE, "items": _items(keys)}
        found.append({"name": "tls", "secret": source})
    if auth:
        items = {"defaultMode": FILE_MODE, "items": _items([auth.key])}
        if auth.secret_name:
            found.append({"name": "auth", "secret": {"secretName": auth.secret_name, **items}})
        else:
            found.append({"name": "auth", "configMap": {"name": auth.config_map_name, **items}})
    return found


def mounts(cluster: model.Cluster) -> list[dict[str, Any]]:
    places = {"tls": TLS_DIR, "auth": AUTH_DIR}
    return [
        {"name": volume["name"], "mountPath": places[volume["name"]], "readOnly": True} for volume in volumes(cluster)
    ]


def _items(keys: list[str]) -> list[dict[str, str]]:
    return [{"key": key, "path": key} for key in keys]
