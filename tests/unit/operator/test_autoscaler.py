"""The autoscaler's decision (a table of single ticks) and its memory (sequences of ticks)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import k8s_bodies
import pytest

from pyarmonik.operator import autoscaler
from pyarmonik.operator.autoscaler import Action, Load, PartitionScaler, ScaleInputs, ScalePolicy

#: podReserved 1, podMax 10, 2 tasks a pod, 10 pods at most per step, 300 s down, no up cooldown.
POLICY = ScalePolicy(min_replicas=1, max_replicas=10)
TO_ZERO = replace(POLICY, min_replicas=0)
TICK = 15.0


def case(
    name: str,
    *,
    queued: int = 0,
    running: int = 0,
    replicas: int,
    expect: int,
    action: Action,
    policy: ScalePolicy = POLICY,
    since_change: float = math.inf,
    recent_need: int = 0,
) -> Any:
    inputs = ScaleInputs(queued, running, replicas, seconds_since_change=since_change, recent_need=recent_need)
    return pytest.param(inputs, policy, expect, action, id=name)


# One case a line or two, aligned by hand: a table.
# fmt: off
CASES = [
    # -- growth
    case("twelve_queued_tasks_at_two_a_pod_need_six_pods", queued=12, replicas=1, expect=6, action=Action.UP),
    case("running_tasks_count_towards_the_need", queued=4, running=2, replicas=1, expect=3, action=Action.UP),
    case("an_odd_task_gets_a_pod_of_its_own", queued=5, replicas=1, expect=3, action=Action.UP),
    case(
        "growth_is_bounded_by_the_step",
        queued=100, replicas=2, expect=6, action=Action.UP, policy=replace(POLICY, scale_up_step=4),
    ),
    case("growth_stops_at_pod_max", queued=100, replicas=3, expect=10, action=Action.UP),
    case("at_pod_max_more_tasks_change_nothing", queued=100, replicas=10, expect=10, action=Action.HOLD),
    case(
        "a_scale_up_within_its_cooldown_waits",
        queued=20, replicas=2, expect=2, action=Action.HOLD,
        policy=replace(POLICY, scale_up_cooldown_seconds=60), since_change=30,
    ),
    case(
        "a_scale_up_after_its_cooldown_goes_ahead",
        queued=20, replicas=2, expect=10, action=Action.UP,
        policy=replace(POLICY, scale_up_cooldown_seconds=60), since_change=60,
    ),
    case("a_load_the_pods_match_holds_them", queued=4, running=4, replicas=4, expect=4, action=Action.HOLD),
    # -- drain
    case(
        "an_empty_queue_within_the_cooldown_keeps_the_pods",
        replicas=6, recent_need=6, expect=6, action=Action.HOLD,
    ),
    case("an_empty_queue_after_the_cooldown_drops_to_pod_reserved", replicas=6, expect=1, action=Action.DOWN),
    case("a_drain_keeps_the_recent_peak", queued=1, replicas=8, recent_need=3, expect=3, action=Action.DOWN),
    case(
        "a_drain_never_removes_the_pods_of_running_tasks",
        running=4, replicas=8, expect=4, action=Action.DOWN,
    ),
    case(
        "running_tasks_beyond_the_target_keep_a_pod_each",
        queued=0, running=5, replicas=5, expect=5, action=Action.HOLD,
    ),
    # -- bounds
    case("a_count_above_pod_max_drops_to_it_busy_or_not", running=12, replicas=12, expect=10, action=Action.DOWN),
    case("a_count_below_pod_reserved_rises_to_it", replicas=0, expect=1, action=Action.UP),
    case(
        "pod_reserved_equal_to_pod_max_pins_the_count",
        queued=50, replicas=3, expect=3, action=Action.HOLD, policy=replace(POLICY, min_replicas=3, max_replicas=3),
    ),
    case(
        "pod_max_zero_keeps_the_partition_off",
        queued=50, replicas=0, expect=0, action=Action.HOLD, policy=replace(POLICY, min_replicas=0, max_replicas=0),
    ),
    # -- zero
    case("pod_reserved_zero_and_an_idle_cooldown_go_to_zero", replicas=2, expect=0, action=Action.DOWN, policy=TO_ZERO),
    case(
        "pod_reserved_zero_keeps_a_pod_while_a_task_runs",
        running=1, replicas=2, expect=1, action=Action.DOWN, policy=TO_ZERO,
    ),
    case(
        "pod_reserved_zero_waits_the_cooldown_before_zero",
        replicas=1, recent_need=1, expect=1, action=Action.HOLD, policy=TO_ZERO,
    ),
    case("pod_reserved_one_never_goes_to_zero", replicas=1, expect=1, action=Action.HOLD),
    case("zero_stays_zero_without_tasks", replicas=0, expect=0, action=Action.HOLD, policy=TO_ZERO),
    # -- wake from zero
    case(
        "the_first_queued_task_wakes_zero_to_one_pod",
        queued=1, replicas=0, expect=1, action=Action.UP, policy=TO_ZERO,
    ),
    case(
        "waking_from_zero_ignores_the_scale_up_cooldown",
        queued=1, replicas=0, expect=1, action=Action.UP,
        policy=replace(TO_ZERO, scale_up_cooldown_seconds=600), since_change=1,
    ),
    case(
        "a_burst_wakes_zero_to_its_need_within_the_step",
        queued=100, replicas=0, expect=10, action=Action.UP, policy=replace(TO_ZERO, max_replicas=50),
    ),
]
# fmt: on


@pytest.mark.parametrize(("inputs", "policy", "expect", "action"), CASES)
def test_decide(inputs: ScaleInputs, policy: ScalePolicy, expect: int, action: Action) -> None:
    decision = autoscaler.decide(inputs, policy)
    assert (decision.replicas, decision.action) == (expect, action), decision.reason
    assert decision.previous == inputs.replicas
    assert decision.changed == (expect != inputs.replicas)
    assert policy.min_replicas <= decision.replicas <= policy.max_replicas or decision.replicas == inputs.replicas


def test_a_decision_says_why_in_one_line() -> None:
    up = autoscaler.decide(ScaleInputs(queued=12, running=0, replicas=1), POLICY)
    assert up.reason == "1 -> 6 pods: 12 queued and 0 running at 2 a pod need 6"
    assert up.event_reason == "ScaledUp"
    down = autoscaler.decide(ScaleInputs(queued=0, running=0, replicas=2), TO_ZERO)
    assert down.reason == "2 -> 0 pods: no task for 300 s" and down.event_reason == "ScaledDown"
    held = autoscaler.decide(ScaleInputs(queued=0, running=0, replicas=6, recent_need=6), POLICY)
    assert "scale-down waits" in held.reason and "\n" not in held.reason


@pytest.mark.parametrize(
    "bad",
    [
        {"min_replicas": 3, "max_replicas": 2},
        {"min_replicas": -1, "max_replicas": 2},
        {"min_replicas": 1, "max_replicas": 2, "target_tasks_per_pod": 0},
        {"min_replicas": 1, "max_replicas": 2, "scale_up_step": 0},
        {"min_replicas": 1, "max_replicas": 2, "scale_down_cooldown_seconds": -1},
    ],
    ids=["max_below_min", "negative_min", "no_task_per_pod", "no_step", "negative_cooldown"],
)
def test_an_impossible_policy_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ScalePolicy(**bad)


def test_the_policy_is_read_from_the_partition_spec_with_its_defaults(cpu_partition_body: dict[str, Any]) -> None:
    cpu_partition_body["spec"].update(podReserved=0, podMax=7, autoscaling={"enabled": True, "scaleUpStep": 3})
    assert autoscaler.policy_of(k8s_bodies.parsed_partition(cpu_partition_body).spec) == ScalePolicy(
        min_replicas=0,
        max_replicas=7,
        target_tasks_per_pod=2,
        scale_up_step=3,
        scale_down_cooldown_seconds=300.0,
        scale_up_cooldown_seconds=0.0,
    )


# -- sequences of ticks through the scaler's memory -------------------------------------
class Partition:
    """A partition whose /scale follows every decision, ticked every 15 s."""

    def __init__(self, policy: ScalePolicy, replicas: int, *, scaler: PartitionScaler | None = None) -> None:
        self.policy, self.replicas, self.now = policy, replicas, 0.0
        self.scaler = scaler or PartitionScaler()
        self.changes: list[tuple[float, int]] = []

    def tick(self, queued: int, running: int = 0, *, write_fails: bool = False) -> autoscaler.ScaleDecision:
        decision = self.scaler.plan(
            "uid-1", Load(queued, running), replicas=self.replicas, policy=self.policy, now=self.now
        )
        if decision.changed and not write_fails:
            self.replicas = decision.replicas
            self.scaler.applied("uid-1", decision.replicas, now=self.now)
            self.changes.append((self.now, decision.replicas))
        self.now += TICK
        return decision

    def run(self, seconds: float, queued: int, running: int = 0) -> None:
        for _ in range(int(seconds // TICK)):
            self.tick(queued, running)


def test_a_queue_flapping_between_ten_and_zero_scales_once_and_holds() -> None:
    partition = Partition(POLICY, replicas=1)
    for n in range(80):  # 20 minutes, the queue full one tick and empty the next
        partition.tick(queued=10 if n % 2 == 0 else 0)
    assert partition.changes == [(0.0, 5)]


def test_a_queue_flapping_slower_than_a_tick_but_faster_than_the_cooldown_holds_too() -> None:
    partition = Partition(POLICY, replicas=1)
    for n in range(80):  # 2 minutes of 8 tasks, 2 minutes of none, over and over
        partition.tick(queued=8 if (n // 8) % 2 == 0 else 0)
    assert partition.changes == [(0.0, 4)]


def test_a_drained_queue_scales_down_once_a_whole_cooldown_after_the_last_need() -> None:
    partition = Partition(POLICY, replicas=1)
    partition.tick(queued=20)  # t=0: up to 10
    partition.run(60, queued=12)  # the need falls to 6
    last_need_at = partition.now - TICK
    partition.run(600, queued=0)
    # 10 held 300 s after the need of 10, then 6 until 300 s after the last need of 6, then podReserved.
    assert partition.changes == [(0.0, 10), (300.0, 6), (last_need_at + 300, 1)]


def test_an_idle_partition_reaches_zero_after_the_cooldown_and_wakes_on_the_next_task() -> None:
    partition = Partition(TO_ZERO, replicas=0)
    partition.tick(queued=1)
    partition.run(120, queued=0, running=1)
    done_at = partition.now
    partition.run(600, queued=0)
    partition.tick(queued=3)
    assert partition.changes == [(0.0, 1), (done_at - TICK + 300, 0), (partition.now - TICK, 2)]


def test_an_operator_restart_removes_nothing_before_a_whole_cooldown() -> None:
    partition = Partition(POLICY, replicas=6)  # a fresh scaler meets a partition of 6 pods
    partition.run(300, queued=0)
    assert partition.changes == []
    partition.tick(queued=0)
    assert partition.changes == [(300.0, 1)]


def test_a_count_set_by_hand_is_held_for_a_cooldown() -> None:
    partition = Partition(POLICY, replicas=1)
    partition.run(60, queued=0)
    partition.replicas = 8  # kubectl scale
    partition.run(300, queued=0)
    assert partition.changes == []
    partition.tick(queued=0)
    assert partition.changes == [(360.0, 1)]


def test_a_failed_write_of_scale_is_retried_at_the_next_tick_without_a_cooldown() -> None:
    partition = Partition(replace(POLICY, scale_up_cooldown_seconds=120), replicas=1)
    assert partition.tick(queued=10, write_fails=True).replicas == 5
    assert partition.replicas == 1
    assert partition.tick(queued=10).replicas == 5
    assert partition.changes == [(TICK, 5)]


def test_growth_climbs_by_steps_tick_after_tick() -> None:
    partition = Partition(replace(POLICY, max_replicas=50, scale_up_step=10), replicas=1)
    partition.run(60, queued=100)
    assert partition.changes == [(0.0, 11), (15.0, 21), (30.0, 31), (45.0, 41)]


def test_the_scaler_forgets_a_deleted_partition() -> None:
    scaler = PartitionScaler()
    scaler.plan("uid-1", Load(0, 0), replicas=2, policy=POLICY, now=0)
    assert "uid-1" in scaler
    scaler.forget("uid-1")
    assert "uid-1" not in scaler
    scaler.forget("uid-1")


def test_the_memory_of_needs_stays_small_over_a_long_busy_day() -> None:
    scaler = PartitionScaler()
    for n in range(20_000):
        scaler.plan("uid-1", Load(n % 37, 0), replicas=5, policy=POLICY, now=n * TICK)
    assert len(scaler._memory["uid-1"].needs) <= 300 / TICK + 1
