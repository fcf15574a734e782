"""The fake nodes of the test bed: two CPU nodes and two GPU nodes.

kwok manages a Node only when it carries the ``kwok.x-k8s.io/node: fake``
annotation (the control plane starts kwok with that selector), and makes it
look Ready and its pods Running without a kubelet. No kwok taint is added:
ordinary pods must schedule without a special toleration, as on a real
cluster. GPU nodes look like a GPU node pool of a managed cloud: the NVIDIA
GPU operator's label, an ``nvidia.com/gpu`` extended resource, and the
``nvidia.com/gpu=present:NoSchedule`` taint, so only pods that tolerate it
(and, to get a GPU, request one) land there.
"""

from __future__ import annotations

from typing import Any

FAKE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
GPU_RESOURCE = "nvidia.com/gpu"
GPU_LABEL = ("nvidia.com/gpu.present", "true")
GPU_TAINT = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}
GPUS_PER_NODE = "4"
CPU_NODES = ("kwok-cpu-0", "kwok-cpu-1")
GPU_NODES = ("kwok-gpu-0", "kwok-gpu-1")


def build_node(name: str, *, gpu: bool) -> dict[str, Any]:
    """A Node manifest; capacity is set in its status, which nothing but kwok updates."""
    capacity = {"cpu": "8", "memory": "32Gi", "pods": "110"}
    labels = {"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    spec: dict[str, Any] = {}
    if gpu:
        capacity[GPU_RESOURCE] = GPUS_PER_NODE
        labels.update([GPU_LABEL, ("accelerator", "nvidia")])
        spec["taints"] = [GPU_TAINT]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "annotations": dict([FAKE_ANNOTATION]), "labels": labels},
        "spec": spec,
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


def build_nodes() -> dict[str, Any]:
    """All four nodes, as one ``v1/List`` for a single ``kubectl create``."""
    items = [build_node(name, gpu=False) for name in CPU_NODES] + [build_node(name, gpu=True) for name in GPU_NODES]
    return {"apiVersion": "v1", "kind": "List", "items": items}
