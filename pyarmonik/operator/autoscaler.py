"""How many pods a partition should run for its queue: the decision, and the memory it needs.

:func:`decide` is pure (numbers in, a count and its reason out); the
:class:`PartitionScaler` around it remembers, per partition, what the
decision needs from the past, and still does no I/O (time is given to it).
Reading the queue and writing ``/scale`` are the caller's
(:mod:`pyarmonik.operator.scaling`).

Invariants of the count:

- bounds: always within podReserved..podMax;
- up at once: when the load needs more pods than there are, the count rises
  in the same tick by at most ``scaleUpStep`` (``scaleUpCooldownSeconds``
  apart), and a partition at zero wakes on its first queued task whatever
  the cooldown;
- down only after a calm cooldown: the count falls only to the most pods the
  load needed during the whole last ``scaleDownCooldownSeconds`` (the
  Kubernetes HPA's scale-down stabilization window). A load that comes and
  goes faster than the cooldown therefore holds the count at its peaks
  instead of flapping it, and podReserved 0 reaches zero only after a whole
  cooldown with nothing queued and nothing running;
- never below the busy pods: an agent runs one task at a time, so the count
  never falls below the running tasks; which pods go is the ReplicaSet's
  choice, steered to idle ones by :mod:`pyarmonik.operator.pod_costs`.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass, field

from pyarmonik.operator import model


class Action(enum.Enum):
    UP = "up"
    DOWN = "down"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class ScalePolicy:
    """A partition's bounds and autoscaling settings (its spec's ``podReserved``,
    ``podMax`` and ``autoscaling``)."""

    min_replicas: int
    max_replicas: int
    target_tasks_per_pod: int = 2
    scale_up_step: int = 10
    scale_down_cooldown_seconds: float = 300.0
    scale_up_cooldown_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError(f"need 0 <= podReserved <= podMax, got {self.min_replicas} and {self.max_replicas}")
        if self.target_tasks_per_pod < 1 or self.scale_up_step < 1:
            raise ValueError("targetTasksPerPod and scaleUpStep must be at least 1")
        if self.scale_down_cooldown_seconds < 0 or self.scale_up_cooldown_seconds < 0:
            raise ValueError("cooldowns cannot be negative")


@dataclass(frozen=True, slots=True)
class Load:
    """A partition's tasks: waiting in its queue, and leased to its agents."""

    queued: int
    running: int


@dataclass(frozen=True, slots=True)
class ScaleInputs:
    queued: int
    running: int
    #: The count the partition asks for now (``spec.replicas`` within bounds).
    replicas: int
    #: Since the count last changed (``math.inf``: not since we know of).
    seconds_since_change: float = math.inf
    #: The most pods the load needed during the last scale-down cooldown,
    #: before now (0: none needed, or no memory of it).
    recent_need: int = 0


@dataclass(frozen=True, slots=True)
class ScaleDecision:
    replicas: int
    previous: int
    #: Pods the load needs now (before bounds, step and cooldowns).
    need: int
    action: Action
    #: One line for the Event and the log.
    reason: str

    @property
    def changed(self) -> bool:
        return self.replicas != self.previous

    @property
    def event_reason(self) -> str:
        return {Action.UP: "ScaledUp", Action.DOWN: "ScaledDown", Action.HOLD: "ScaleHeld"}[self.action]


def need(queued: int, running: int, target_tasks_per_pod: int) -> int:
    """Pods the load needs: one per ``target_tasks_per_pod`` tasks queued or
    running, and never fewer than the running tasks (one task per pod)."""
    return max(-(-(queued + running) // target_tasks_per_pod), running)


def decide(inputs: ScaleInputs, policy: ScalePolicy) -> ScaleDecision:
    """The count for the partition now, with its reason (see the module's invariants)."""
    now_need = need(max(inputs.queued, 0), max(inputs.running, 0), policy.target_tasks_per_pod)
    current = inputs.replicas
    load = f"{inputs.queued} queued and {inputs.running} running at {policy.target_tasks_per_pod} a pod"
    if current > policy.max_replicas:
        # podMax lowered below the count: the user's bound wins, busy pods or not.
        return _decision(inputs, now_need, policy.max_replicas, f"above podMax {policy.max_replicas}")
    floor = max(current, policy.min_replicas)
    if now_need > floor:
        return _up(inputs, policy, now_need, floor, load)
    if floor > current:
        return _decision(inputs, now_need, floor, f"below podReserved {policy.min_replicas}")
    return _down(inputs, policy, now_need, load)


def _up(inputs: ScaleInputs, policy: ScalePolicy, now_need: int, floor: int, load: str) -> ScaleDecision:
    wanted = min(now_need, policy.max_replicas)
    if wanted <= floor:
        return _decision(inputs, now_need, floor, f"{load} need {now_need} pods; held at podMax {policy.max_replicas}")
    waking = inputs.replicas == 0
    if not waking and inputs.seconds_since_change < policy.scale_up_cooldown_seconds:
        cooldown = f"{inputs.seconds_since_change:.0f} s of {policy.scale_up_cooldown_seconds:.0f} s"
        return _decision(inputs, now_need, floor, f"{load} need {now_need} pods; scale-up cooldown ({cooldown})")
    target = min(wanted, floor + policy.scale_up_step)
    why = f"{load} need {now_need}"
    if target < wanted:
        why += f" (at most {policy.scale_up_step} more at once)"
    return _decision(inputs, now_need, target, why + (", waking from zero" if waking else ""))


def _down(inputs: ScaleInputs, policy: ScalePolicy, now_need: int, load: str) -> ScaleDecision:
    current, cooldown = inputs.replicas, f"{policy.scale_down_cooldown_seconds:.0f} s"
    keep = min(max(policy.min_replicas, now_need, inputs.recent_need), policy.max_replicas)
    if keep < current:
        why = f"at most {keep} needed for {cooldown}; {load} need {now_need}"
        if keep == 0:
            why = f"no task for {cooldown}"
        return _decision(inputs, now_need, keep, why)
    if now_need < current:
        why = f"{load} need {now_need}, but {inputs.recent_need} were needed within {cooldown}: scale-down waits"
        return _decision(inputs, now_need, current, why)
    return _decision(inputs, now_need, current, f"{load} need {now_need}: steady")


def _decision(inputs: ScaleInputs, now_need: int, replicas: int, why: str) -> ScaleDecision:
    current = inputs.replicas
    action = Action.UP if replicas > current else Action.DOWN if replicas < current else Action.HOLD
    if action is not Action.HOLD:
        why = f"{current} -> {replicas} pods: {why}"
    return ScaleDecision(replicas=replicas, previous=current, need=now_need, action=action, reason=why)


def policy_of(spec: model.PartitionSpec) -> ScalePolicy:
    """The policy a partition's spec says."""
    auto = spec.autoscaling
    return ScalePolicy(
        min_replicas=spec.pod_reserved,
        max_replicas=spec.pod_max,
        target_tasks_per_pod=auto.target_tasks_per_pod,
        scale_up_step=auto.scale_up_step,
        scale_down_cooldown_seconds=float(auto.scale_down_cooldown_seconds),
        scale_up_cooldown_seconds=float(auto.scale_up_cooldown_seconds),
    )


# -- memory ------------------------------------------------------------------------
@dataclass(slots=True)
class _Memory:
    replicas: int
    changed_at: float
    #: (time, need), needs decreasing from the oldest: the running maximum of
    #: a sliding window (a need hidden by a later, bigger one can never be
    #: the window's maximum again, so it is dropped).
    needs: deque[tuple[float, int]] = field(default_factory=deque)

    def remember(self, now: float, need: int) -> None:
        while self.needs and self.needs[-1][1] <= need:
            self.needs.pop()
        self.needs.append((now, need))

    def peak(self, now: float, window: float) -> int:
        while self.needs and self.needs[0][0] <= now - window:
            self.needs.popleft()
        return self.needs[0][1] if self.needs else 0


class PartitionScaler:
    """Per partition (by a key of the caller's: its uid), when its count last
    changed and the most pods its load needed recently: what :func:`decide`
    needs from the past. Two steps, so that a failed write of ``/scale``
    leaves no trace: :meth:`plan` decides, :meth:`applied` records the write.

    A partition seen for the first time (a new one, or any after an operator
    restart) counts its present replicas as recently needed, so nothing is
    removed before a whole cooldown has been observed; so does a count
    changed by someone else (``kubectl scale``).
    """

    def __init__(self) -> None:
        self._memory: dict[str, _Memory] = {}

    def plan(self, key: str, load: Load, *, replicas: int, policy: ScalePolicy, now: float) -> ScaleDecision:
        memory = self._memory.get(key)
        if memory is None:
            memory = self._memory[key] = _Memory(replicas=replicas, changed_at=-math.inf)
            memory.remember(now, replicas)
        elif memory.replicas != replicas:
            memory.replicas, memory.changed_at = replicas, now
            memory.remember(now, replicas)
        inputs = ScaleInputs(
            queued=load.queued,
            running=load.running,
            replicas=replicas,
            seconds_since_change=now - memory.changed_at,
            recent_need=memory.peak(now, policy.scale_down_cooldown_seconds),
        )
        decision = decide(inputs, policy)
        memory.remember(now, decision.need)
        return decision

    def applied(self, key: str, replicas: int, *, now: float) -> None:
        """The partition now asks for ``replicas`` (its ``/scale`` was written)."""
        memory = self._memory.get(key)
        if memory is not None and memory.replicas != replicas:
            memory.replicas, memory.changed_at = replicas, now

    def forget(self, key: str) -> None:
        """For a deleted partition."""
        self._memory.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._memory
