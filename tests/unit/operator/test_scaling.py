"""One autoscaling tick with fake I/O: what is read, what is written, and when nothing is."""

from __future__ import annotations

from typing import Any

import pytest

from pyarmonik.core import errors
from pyarmonik.operator import autoscaler, model, scaling
from pyarmonik.operator.autoscaler import Action, Load


class Grid:
    """The fakes of one tick: the load it reads, the /scale it writes, the pods it protects."""

    def __init__(self, load: Load | BaseException) -> None:
        self.load = load
        self.reads: list[tuple[str, str]] = []
        self.writes: list[int] = []
        self.events: list[str] = []

    async def read_load(self, cluster: model.Cluster, partition_id: str) -> Load:
        self.reads.append((cluster.name, partition_id))
        if isinstance(self.load, BaseException):
            raise self.load
        return self.load

    async def patch_replicas(self, part: model.Partition, replicas: int) -> None:
        self.events.append(f"scale {replicas}")
        self.writes.append(replicas)

    async def protect_busy_pods(self, part: model.Partition, cluster: model.Cluster) -> None:
        self.events.append("mark pods")


@pytest.fixture
def autoscaled(cpu_partition_body: dict[str, Any]) -> dict[str, Any]:
    cpu_partition_body["metadata"]["uid"] = "uid-cpu"
    cpu_partition_body["spec"].update(podReserved=1, podMax=10, autoscaling={"enabled": True})
    return cpu_partition_body


async def tick(
    partition_body: dict[str, Any], cluster_body: dict[str, Any], grid: Grid, scaler: Any, now: float = 0.0
) -> autoscaler.ScaleDecision | None:
    return await scaling.autoscale_partition(
        model.parse_partition(partition_body),
        model.parse_cluster(cluster_body),
        scaler=scaler,
        read_load=grid.read_load,
        patch_replicas=grid.patch_replicas,
        now=now,
        protect_busy_pods=grid.protect_busy_pods,
    )


async def test_a_queued_backlog_scales_the_partition_up_through_its_scale(
    autoscaled: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    grid, scaler = Grid(Load(queued=9, running=1)), autoscaler.PartitionScaler()
    decision = await tick(autoscaled, cluster_body, grid, scaler)
    assert decision is not None and decision.action is Action.UP
    assert grid.reads == [("grid", "default")]
    assert grid.writes == [5]
    assert grid.events == ["scale 5"]  # growing removes no pod: none to protect


async def test_a_scale_down_marks_the_busy_pods_before_it_writes_the_count(
    autoscaled: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    autoscaled["spec"]["replicas"] = 6
    autoscaled["spec"]["autoscaling"]["scaleDownCooldownSeconds"] = 60
    grid, scaler = Grid(Load(queued=0, running=2)), autoscaler.PartitionScaler()
    assert (await tick(autoscaled, cluster_body, grid, scaler, now=0)).action is Action.HOLD  # type: ignore[union-attr]
    decision = await tick(autoscaled, cluster_body, grid, scaler, now=60)
    assert decision is not None and decision.action is Action.DOWN and decision.replicas == 2
    assert grid.events == ["mark pods", "scale 2"]


async def test_a_steady_partition_is_not_written(autoscaled: dict[str, Any], cluster_body: dict[str, Any]) -> None:
    autoscaled["spec"]["replicas"] = 3
    grid = Grid(Load(queued=2, running=3))
    decision = await tick(autoscaled, cluster_body, grid, autoscaler.PartitionScaler())
    assert decision is not None and decision.action is Action.HOLD and not decision.changed
    assert grid.events == []


@pytest.mark.parametrize(
    "autoscaling",
    [{"enabled": False}, {"enabled": True, "engine": "keda"}],
    ids=["autoscaling_off", "scaled_by_keda"],
)
async def test_a_partition_the_operator_does_not_scale_is_not_even_read(
    cpu_partition_body: dict[str, Any], cluster_body: dict[str, Any], autoscaling: dict[str, Any]
) -> None:
    cpu_partition_body["spec"]["autoscaling"] = autoscaling
    grid = Grid(Load(queued=100, running=0))
    assert await tick(cpu_partition_body, cluster_body, grid, autoscaler.PartitionScaler()) is None
    assert grid.reads == [] and grid.events == []


@pytest.mark.parametrize(
    "failure",
    [errors.Unavailable("cannot reach Redis at redis://grid-redis:6379/0"), ConnectionError("reset"), TimeoutError()],
    ids=["redis_down", "connection_lost", "timeout"],
)
async def test_an_unreadable_queue_scales_nothing_rather_than_looking_empty(
    autoscaled: dict[str, Any], cluster_body: dict[str, Any], failure: BaseException
) -> None:
    autoscaled["spec"].update(podReserved=0, replicas=4)
    autoscaled["spec"]["autoscaling"]["scaleDownCooldownSeconds"] = 0
    grid = Grid(failure)
    assert await tick(autoscaled, cluster_body, grid, autoscaler.PartitionScaler()) is None
    assert grid.events == []


async def test_a_bug_in_the_reader_is_not_taken_for_an_outage(
    autoscaled: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    with pytest.raises(KeyError):
        await tick(autoscaled, cluster_body, Grid(KeyError("oops")), autoscaler.PartitionScaler())


async def test_a_failed_write_is_decided_again_at_the_next_tick(
    autoscaled: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    autoscaled["spec"]["autoscaling"]["scaleUpCooldownSeconds"] = 600
    scaler, grid = autoscaler.PartitionScaler(), Grid(Load(queued=8, running=0))

    async def refused(part: model.Partition, replicas: int) -> None:
        raise ConnectionError("API server unreachable")

    with pytest.raises(ConnectionError):
        await scaling.autoscale_partition(
            model.parse_partition(autoscaled),
            model.parse_cluster(cluster_body),
            scaler=scaler,
            read_load=grid.read_load,
            patch_replicas=refused,
            now=0,
        )
    decision = await tick(autoscaled, cluster_body, grid, scaler, now=15)  # within the cooldown it would start
    assert decision is not None and decision.replicas == 4 and grid.writes == [4]


async def test_partitions_are_remembered_apart(
    autoscaled: dict[str, Any], gpu_partition_body: dict[str, Any], cluster_body: dict[str, Any]
) -> None:
    gpu_partition_body["metadata"]["uid"] = "uid-gpu"
    gpu_partition_body["spec"]["autoscaling"] = {"enabled": True}
    scaler = autoscaler.PartitionScaler()
    await tick(autoscaled, cluster_body, Grid(Load(4, 0)), scaler)
    await tick(gpu_partition_body, cluster_body, Grid(Load(0, 0)), scaler)
    assert "uid-cpu" in scaler and "uid-gpu" in scaler
    assert scaling.scaler_key(model.parse_partition(autoscaled)) == "uid-cpu"
    del autoscaled["metadata"]["uid"]
    assert scaling.scaler_key(model.parse_partition(autoscaled)) == "science/default"
