"""The NetworkPolicies of a grid: who may reach each of its components.

One policy per component, named after it, selecting its pods only:

- the control plane: its API port from the grid's agents (their workers may
  call the API) and from ``networkPolicy.ingressFrom`` (by default every pod
  of the namespace; with ``auth.trustedProxyHeaders`` those peers alone,
  since whoever reaches the port may forge the identity headers); its
  metrics port from the monitoring namespaces;
- the managed Redis: from the control plane, the agents and the operator
  (which declares partitions and reads queues there);
- the managed MinIO: from the control plane and the agents;
- with ``gui.enabled``, the control plane's gRPC-Web port and the GUI's
  port: from the API's peers (with ``auth.trustedProxyHeaders``, the
  Ingress named in ``networkPolicy.ingressFrom`` alone);
- each partition (built with the partition's children): the agent's probe
  port, which also serves ``/metrics`` and the state the autoscaler reads,
  from the operator and the monitoring namespaces. Nothing else: the agent
  and the worker talk over a unix socket.

Egress is closed, but for DNS, on the pods whose peers are all known: Redis
and MinIO, and the control plane when both are managed. Partitions keep
theirs open, as workers run the user's code, and so does a control plane on
an external Redis or S3 service (a host name, not a pod).

Kubelet probes and ``kubectl port-forward`` are not subject to policies
(traffic from the pod's own node always passes), so neither needs a rule.
The invariant every rule keeps: a rule never has an empty ``from`` or
``to``, which would admit everyone; a rule with no peer is left out.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pyarmonik.operator import model
from pyarmonik.operator.builders import common, control_plane, gui, object_storage, redis

API_VERSION = "networking.k8s.io/v1"
KIND = "NetworkPolicy"
#: UDP and TCP to any address: node-local DNS caches and cloud resolvers are
#: not pods a selector could name.
DNS = {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def build_cluster_policies(cluster: model.Cluster) -> list[dict[str, Any]]:
    """The control plane's policy, and the managed Redis' and MinIO's; none
    when ``networkPolicy.enabled`` is false."""
    spec = cluster.spec
    if not spec.network_policy.enabled:
        return []
    policies = [build_control_plane_policy(cluster)]
    if spec.redis.mode == "managed":
        policies.append(build_redis_policy(cluster))
    if spec.object_storage.mode == "managed":
        policies.append(build_minio_policy(cluster))
    if spec.gui.enabled:
        policies.append(build_gui_policy(cluster))
    return policies


def build_partition_policies(part: model.Partition, cluster: model.Cluster) -> list[dict[str, Any]]:
    """The partition's policy, unless its cluster's ``networkPolicy.enabled`` is false."""
    if not cluster.spec.network_policy.enabled:
        return []
    return [build_partition_policy(part, cluster)]


def _api_peers(cluster: model.Cluster) -> list[dict[str, Any]]:
    """Who may call the API (and, with the GUI, its gRPC-Web port and the GUI)."""
    spec = cluster.spec
    given = spec.network_policy.ingress_from
    if spec.auth and spec.auth.trusted_proxy_headers:
        return list(given or [])
    return [_agents(cluster), *(given if given is not None else [{"podSelector": {}}])]


def build_control_plane_policy(cluster: model.Cluster) -> dict[str, Any]:
    spec = cluster.spec
    plane = spec.control_plane
    api_peers = _api_peers(cluster)
    ingress = _rule("from", api_peers, plane.port) + _rule("from", _monitoring(spec), plane.metrics_port)
    http_port = gui.http_port(cluster)
    if http_port is not None:
        ingress += _rule("from", api_peers, http_port)
    egress = None
    if spec.redis.mode == "managed" and spec.object_storage.mode == "managed":
        egress = [
            DNS,
            *_rule("to", [_pods(cluster.name, redis.COMPONENT)], redis.PORT),
            *_rule("to", [_pods(cluster.name, object_storage.COMPONENT)], object_storage.API_PORT),
        ]
    return _policy(cluster, control_plane.COMPONENT, common.control_plane_name, ingress, egress)


def build_gui_policy(cluster: model.Cluster) -> dict[str, Any]:
    """The GUI's port from the API's peers (the Ingress controller among
    them); no egress but DNS: nginx serves files, the browser calls the API."""
    return _policy(cluster, gui.COMPONENT, gui.name, _rule("from", _api_peers(cluster), gui.PORT), [DNS])


def build_redis_policy(cluster: model.Cluster) -> dict[str, Any]:
    peers = [_pods(cluster.name, control_plane.COMPONENT), _agents(cluster), *cluster.spec.network_policy.operator_from]
    return _policy(cluster, redis.COMPONENT, common.redis_name, _rule("from", peers, redis.PORT), [DNS])


def build_minio_policy(cluster: model.Cluster) -> dict[str, Any]:
    peers = [_pods(cluster.name, control_plane.COMPONENT), _agents(cluster)]
    ingress = _rule("from", peers, object_storage.API_PORT)
    return _policy(cluster, object_storage.COMPONENT, common.minio_name, ingress, [DNS])


def build_partition_policy(part: model.Partition, cluster: model.Cluster) -> dict[str, Any]:
    spec = cluster.spec
    partition_id = part.partition_id
    peers = [*spec.network_policy.operator_from, *_monitoring(spec)]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": common.metadata(
            common.partition_name(cluster.name, partition_id),
            part.namespace,
            common.labels(cluster.name, common.PARTITION_COMPONENT, partition_id),
        ),
        "spec": {
            "podSelector": {
                "matchLabels": common.selector_labels(cluster.name, common.PARTITION_COMPONENT, partition_id)
            },
            "policyTypes": ["Ingress"],
            "ingress": _rule("from", peers, common.AGENT_PROBE_PORT),
        },
    }


def _policy(
    cluster: model.Cluster,
    component: str,
    name_of: Callable[[str], str],
    ingress: list[dict[str, Any]],
    egress: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """A policy on the pods of ``component``; ``egress`` None leaves their egress open."""
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": common.selector_labels(cluster.name, component)},
        "policyTypes": ["Ingress"] if egress is None else ["Ingress", "Egress"],
        "ingress": ingress,
    }
    if egress is not None:
        spec["egress"] = egress
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": common.metadata(name_of(cluster.name), cluster.namespace, common.labels(cluster.name, component)),
        "spec": spec,
    }


def _rule(direction: str, peers: list[dict[str, Any]], port: int) -> list[dict[str, Any]]:
    """One rule to or from ``peers`` on TCP ``port``, or none without peers
    (an empty peer list would match every source or destination)."""
    if not peers:
        return []
    return [{direction: copy.deepcopy(peers), "ports": [{"protocol": "TCP", "port": port}]}]


def _pods(cluster: str, component: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": common.selector_labels(cluster, component)}}


def _agents(cluster: model.Cluster) -> dict[str, Any]:
    """Every partition pod of the cluster, whatever its partition."""
    return _pods(cluster.name, common.PARTITION_COMPONENT)


def _monitoring(spec: model.ClusterSpec) -> list[dict[str, Any]]:
    return [{"namespaceSelector": copy.deepcopy(spec.network_policy.monitoring_namespace_selector)}]
