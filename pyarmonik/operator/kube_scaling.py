"""The autoscaler's hands on the API server: ``/scale`` of a partition, its pods
and their deletion costs.

Beside :mod:`pyarmonik.operator.kube` (which this module uses, not changes):
the count goes through the partition's ``scale`` subresource, as ``kubectl
scale`` and KEDA write it, so the operator's reconcile sees an ordinary spec
change and resizes the Deployment; deletion costs are merge patches of the
pods' annotations, written only where they change. Calls are synchronous
(the ``kubernetes`` client), run in a thread by the async helpers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes.dynamic.exceptions import NotFoundError

from pyarmonik.operator import kube, model, pod_costs
from pyarmonik.operator.builders import partition

_MERGE = "application/merge-patch+json"


def patch_scale(client: kube.Kube, part: model.Partition, replicas: int) -> None:
    """Writes ``spec.replicas`` through the partition's ``/scale``."""
    resource = client.resource(part.api_version, part.kind)
    client.dynamic.patch(
        resource.subresources["scale"],
        body={"spec": {"replicas": int(replicas)}},
        name=part.name,
        namespace=part.namespace,
        content_type=_MERGE,
    )


def partition_pods(client: kube.Kube, part: model.Partition, cluster: model.Cluster) -> list[dict[str, Any]]:
    """The pods of the partition's Deployment (by its selector)."""
    listed = client.resource("v1", "Pod").get(
        namespace=part.namespace, label_selector=partition.partition_selector(part, cluster)
    )
    pods: list[dict[str, Any]] = listed.to_dict().get("items") or []
    return pods


def patch_pods(client: kube.Kube, namespace: str, patches: dict[str, dict[str, Any]]) -> None:
    resource = client.resource("v1", "Pod")
    for name, patch in patches.items():
        try:
            client.dynamic.patch(resource, body=patch, name=name, namespace=namespace, content_type=_MERGE)
        except NotFoundError:
            continue  # deleted since listed: nothing to protect


async def mark_deletion_costs(
    client: kube.Kube, fetch: pod_costs.Fetch, part: model.Partition, cluster: model.Cluster
) -> dict[str, int]:
    """Asks every pod of the partition what its agent is doing and writes
    the deletion costs that follow; returns them by pod name."""
    pods = await asyncio.to_thread(partition_pods, client, part, cluster)
    costs = pod_costs.deletion_costs(await pod_costs.agent_states(pods, fetch))
    patches = pod_costs.annotation_patches(pods, costs)
    if patches:
        await asyncio.to_thread(patch_pods, client, part.namespace, patches)
    return costs
