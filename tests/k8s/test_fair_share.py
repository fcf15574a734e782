"""``ArmoniKPartition.spec.fairShare`` against a real API server and the
operator: written to the grid when applied and when changed, and shown by
GetPartition (its ``pod_configuration``) of a control plane on the same
Redis. A fair share the grid would refuse is refused by the API server:
``test_operator``'s invalid partitions."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import grpc
import pytest
from armonik.client import ArmoniKPartitions

from pyarmonik.settings import LocalSettings
from tests.grid_thread import GridThread
from tests.k8s import controlplane, operator_process
from tests.k8s.test_operator import CONVERGE, external_cluster, partition

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300)]
PREFIX = "pyarmonik.io/fair-share-"


@pytest.fixture(scope="module")
def operator(
    crds: controlplane.ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[operator_process.Operator]:
    with operator_process.running(crds, tmp_path_factory.mktemp("operator")) as running:
        yield running


def test_spec_fair_share_is_the_partition_s_fair_share_and_follows_its_changes(
    k8s: controlplane.ControlPlane,
    operator: operator_process.Operator,
    redis_server: str,
    namespace: str,
    tmp_path: pathlib.Path,
) -> None:
    partition_id = f"shared-{namespace[-8:]}"
    k8s.apply(external_cluster(redis_server), namespace=namespace)
    fair_share = {"key": "user", "weights": {"alice": 2, "*": 0.5}, "caps": {"*": 4}}
    k8s.apply(partition(partition_id, podReserved=0, fairShare=fair_share), namespace=namespace)
    # A control plane on the same Redis as the operator, as the cluster's pods would be.
    grid = GridThread(LocalSettings(port=0, data_dir=tmp_path, redis_url=redis_server, agents=0)).start()
    try:
        with grpc.insecure_channel(grid.address) as channel:
            partitions = ArmoniKPartitions(channel)

            def shown() -> dict[str, str]:
                try:
                    configuration = partitions.get_partition(partition_id).pod_configuration
                except grpc.RpcError:
                    return {}
                return {k.removeprefix(PREFIX): v for k, v in configuration.items() if k.startswith(PREFIX)}

            k8s.wait_for(lambda: shown().get("key") == "user", timeout=CONVERGE)
            assert shown() == {
                "mode": "fair", "key": "user", "default-weight": "0.5", "weights": '{"alice":2.0}', "default-cap": "4",
            }  # fmt: skip

            fifo = {"mode": "fifo", "key": "session", "weights": None, "caps": None}
            patch = json.dumps({"spec": {"fairShare": fifo}})
            k8s.kubectl("patch", "-n", namespace, f"akp/{partition_id}", "--type=merge", "-p", patch)
            k8s.wait_for(lambda: shown().get("mode") == "fifo", timeout=CONVERGE)
            assert shown() == {"mode": "fifo", "key": "session", "default-weight": "1"}
    finally:
        grid.stop()
