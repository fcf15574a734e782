"""The fair-share rule: a pure model of one partition's queue.

This is the specification that ``storage/redis/lua/lib_queue.lua``
implements; nothing in production runs it (the Redis functions do). Tests
pin the rule down with tables (``tests/unit/test_fair_queue.py``) and drive
this model and the Redis functions through the same scenarios, comparing
the order in which tasks are dispatched
(``tests/integration/test_fair_queue_redis.py``), so the two cannot drift.

The rule, per partition:

- **Priorities are strict.** Every queued task of a higher priority is
  dispatched before any of a lower one.
- **Inside a priority, keys share by weight (stride scheduling).** Each key
  with queued tasks at a priority has an entry with a *virtual time*; a
  dispatch serves the entry with the smallest one (equal times: the smaller
  entry name, as Redis orders equal scores) and advances it by its stride,
  ``1 / weight``. An entry that joins starts at the smallest virtual time of
  its priority (rounded down for a plain session, whose scores stay whole
  numbers), so it gets no credit for the time it was absent and waits at
  most one round. The guarantee: over any window in which a set of keys
  stays queued, each key's dispatches differ from ``window * weight /
  sum of weights`` by less than one dispatch of each other key, i.e. the
  shares match the weights up to a round (``tests/unit``: 1:2:4).
- **The key** is the session (its entry is its own task list), or its
  application name, or its owner (the key's entry then holds its sessions,
  served in turn: one task each per turn of the key). A session's tasks,
  its children and retries included, always have its key.
- **Caps.** A capped key counts its running tasks (claimed, not finished);
  at its cap its entries leave the rotation ("parked") and rejoin, at the
  smallest virtual time of their priority, when one of its tasks ends.
- **FIFO mode.** Each session's entry is scored by the time its oldest
  queued tasks became ready, so a priority is served in arrival order
  (tasks that became ready in one call form a run, served together).
- **An entry never changes while it is queued**: a weight, cap or mode
  changed in the configuration applies to entries that join afterwards.

Scores are ``-priority * BAND + virtual time`` (one sorted set per
partition in Redis): exact doubles for priorities within ``MAX_LEVEL`` and
virtual times below ``BAND``. A priority whose virtual times pass ``HALF``
has them all moved back by the whole part of the smallest (rare: 2^31
dispatches of one key).
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

from pyarmonik.core.fairshare import DEFAULT, FairShare

BAND = 2.0**32
HALF = 2.0**31
MAX_LEVEL = 2**20
FIFO_EPOCH = 1_700_000_000.0
#: The first character of an entry name that is not a plain session (weight
#: 1, no cap), and of a FIFO run's header in a task list.
MARK = "\x01"
#: Most entries a pop looks at before giving up (each removes or parks one).
POP_ROUNDS = 64
#: Entry kinds: a session (plain or weighted/capped), an application's or a
#: user's sessions in turn, a FIFO session.
KINDS = {"session": "s", "application": "a", "user": "u"}


def band(priority: str | int) -> float:
    """The score where ``priority``'s band starts (priorities beyond
    ``MAX_LEVEL`` share the extreme band)."""
    level = max(-MAX_LEVEL, min(MAX_LEVEL, int(priority)))
    return -level * BAND


def number(value: float) -> str:
    """A double as exact text (Lua's ``%.17g``)."""
    return f"{value:.17g}"


def stride_text(weight: float) -> str:
    """The stride of a weight as entry names carry it ('' for weight 1)."""
    return "" if weight == 1 else number(1 / weight)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What the queue knows of a session: what its key is made of."""

    owner: str = ""
    application: str = ""
    weight: float | None = None  # the session's own weight (``fairshare.WEIGHT_OPTION``)


@dataclass(frozen=True, slots=True)
class Entry:
    """A rotation entry, parsed from its name."""

    name: str
    priority: str
    kind: str  # '' plain session, 's', 'a', 'u', 'f'
    stride: float
    cap: int | None
    key: str  # the session, application or owner

    @property
    def counted(self) -> str:
        """The running counter of its key (kind + key)."""
        return self.kind + self.key


def entry_name(priority: str, kind: str, key: str, *, stride: str = "", cap: int | None = None) -> str:
    """``L\\tS`` for a plain session, else ``L\\t\\x01<kind><stride>,<cap>\\t<key>``."""
    if kind == "":
        return f"{priority}\t{key}"
    return f"{priority}\t{MARK}{kind}{stride},{'' if cap is None else cap}\t{key}"


def parse(name: str) -> Entry:
    priority, rest = name.split("\t", 1)
    if not rest.startswith(MARK):
        return Entry(name, priority, "", 1.0, None, rest)
    head, key = rest[1:].split("\t", 1)
    kind, params = head[0], head[1:]
    stride, cap = params.split(",", 1)
    return Entry(name, priority, kind, float(stride) if stride else 1.0, int(cap) if cap else None, key)


class FairQueue:
    """One partition's queue under ``config``; sessions are declared first
    (``session``), tasks pushed as they become ready, popped as agents
    claim them, finished as their attempts end."""

    def __init__(self, config: FairShare = DEFAULT) -> None:
        self.config = config
        self.rotation: dict[str, float] = {}
        self.lists: dict[tuple[str, str], collections.deque[str]] = collections.defaultdict(collections.deque)
        self.queued: dict[str, dict[str, str]] = collections.defaultdict(dict)  # session -> priority -> entry
        self.subs: dict[tuple[str, str], collections.deque[str]] = collections.defaultdict(collections.deque)
        self.key_entries: dict[tuple[str, str], str] = {}
        self.running: dict[str, int] = collections.Counter()
        self.parked: dict[str, set[str]] = collections.defaultdict(set)
        self.counted: dict[str, str] = {}  # task -> the counter it holds
        self.sessions: dict[str, SessionInfo] = {}

    # -- sessions and pushes ----------------------------------------------------------
    def session(self, session: str, info: SessionInfo | None = None) -> None:
        self.sessions[session] = info or SessionInfo()

    def push(self, session: str, priority: int | str, tasks: list[str], *, at: float = 0.0, head: bool = False) -> None:
        """``tasks`` of ``session`` became ready at ``priority`` (at time
        ``at``), at the tail of its list (at its head when given back)."""
        priority = str(priority)
        queue = self.lists[(priority, session)]
        name = self.queued[session].get(priority)
        header = None
        if name is None:
            self._enter(session, priority, at)
        elif not head and parse(name).kind == "f":
            header = MARK + number(at - FIFO_EPOCH)
        if head:
            queue.extendleft(reversed(tasks))
        else:
            if header is not None:
                queue.append(header)
            queue.extend(tasks)

    def _entry_for(self, session: str, priority: str, at: float) -> Entry:
        config = self.config
        if config.mode == "fifo":
            return parse(entry_name(priority, "f", session))
        info = self.sessions.get(session, SessionInfo())
        kind = KINDS[config.key]
        key = {"s": session, "a": info.application, "u": info.owner}[kind]
        weight, cap = config.weight_of(key), config.cap_of(key)
        if kind == "s" and info.weight is not None:
            weight = info.weight
        stride = stride_text(weight)
        if kind == "s" and not stride and cap is None:
            return parse(entry_name(priority, "", session))
        return parse(entry_name(priority, kind, key, stride=stride, cap=cap))

    def _enter(self, session: str, priority: str, at: float) -> None:
        entry = self._entry_for(session, priority, at)
        name = entry.name
        if entry.kind in ("a", "u"):
            sub = self.subs[(priority, entry.counted)]
            sub.append(session)
            if len(sub) == 1:
                self.key_entries[(priority, entry.counted)] = name
                self._join(entry)
            else:
                name = self.key_entries.get((priority, entry.counted), name)
        elif entry.kind == "f":
            self.rotation[name] = band(priority) + (at - FIFO_EPOCH)
        else:
            self._join(entry)
        self.queued[session][priority] = name

    def _join(self, entry: Entry) -> None:
        if entry.cap is not None and self.running[entry.counted] >= entry.cap:
            self.parked[entry.counted].add(entry.name)
            return
        score = self._band_min(entry.priority)
        self.rotation[entry.name] = math.floor(score) if entry.kind == "" else score  # plain: whole scores

    def _band_min(self, priority: str) -> float:
        base = band(priority)
        scores = [s for s in self.rotation.values() if base <= s < base + BAND]
        return min(scores) if scores else base

    # -- pops -------------------------------------------------------------------------
    def pop(self) -> tuple[str, str] | None:
        """The next task to dispatch and its session (``None``: nothing
        queued, or nothing found within ``POP_ROUNDS`` entries); a task of
        a capped key counts as running until ``finish``."""
        for _ in range(POP_ROUNDS):
            if not self.rotation:
                return None
            name = min(self.rotation, key=lambda n: (self.rotation[n], n.encode()))
            found = self._pop_entry(parse(name))
            if found is not None:
                return found
        return None

    def _session_of(self, entry: Entry) -> str | None:
        """The session an entry serves now: its own, or its key's next in turn."""
        if entry.kind not in ("a", "u"):
            return entry.key
        sub = self.subs.get((entry.priority, entry.counted))
        if not sub:
            self.rotation.pop(entry.name, None)
            self.key_entries.pop((entry.priority, entry.counted), None)
            return None
        sub.rotate(-1)
        return sub[-1]

    def _count_in(self, entry: Entry) -> bool:
        """Counts a task of a capped entry's key running; parks the entry
        and returns False when its key is at its cap already."""
        if entry.cap is None:
            return True
        self.running[entry.counted] += 1
        if self.running[entry.counted] <= entry.cap:
            return True
        self._count(entry.counted, -1)
        self._park(entry)
        return False

    def _pop_entry(self, entry: Entry) -> tuple[str, str] | None:
        session = self._session_of(entry)
        if session is None or not self._count_in(entry):
            return None
        queue = self.lists.get((entry.priority, session))
        task = queue.popleft() if queue else None
        if task is not None and task.startswith(MARK):  # a FIFO run begins: its time orders it
            self.rotation[entry.name] = band(entry.priority) + float(task[1:])
            return None
        if task is None:
            if entry.cap is not None:
                self._count(entry.counted, -1)
            self._leave(entry, session)
            return None
        if entry.kind != "f":
            self._advance(entry)
        if entry.cap is not None:
            self.counted[task] = entry.counted
            if self.running[entry.counted] >= entry.cap:
                self._park(entry)
        return task, session

    def _advance(self, entry: Entry) -> None:
        self.rotation[entry.name] += entry.stride
        base = band(entry.priority)
        if self.rotation[entry.name] - base > HALF:
            in_band = {n: s for n, s in self.rotation.items() if base <= s < base + BAND}
            shift = math.floor(min(in_band.values()) - base)  # whole: plain entries' scores stay whole
            for n, s in in_band.items():
                self.rotation[n] = s - shift

    def _park(self, entry: Entry) -> None:
        self.rotation.pop(entry.name, None)
        self.parked[entry.counted].add(entry.name)

    def _leave(self, entry: Entry, session: str) -> None:
        self.queued[session].pop(entry.priority, None)
        if entry.kind in ("a", "u"):
            sub = self.subs[(entry.priority, entry.counted)]
            sub.remove(session)
            if sub:
                return
            self.key_entries.pop((entry.priority, entry.counted), None)
        self.rotation.pop(entry.name, None)

    # -- ends -------------------------------------------------------------------------
    def finish(self, task: str) -> None:
        """An attempt at ``task`` ended (or it was given back): its key's
        running count drops, and its parked entries rejoin."""
        counted = self.counted.pop(task, None)
        if counted is not None:
            self._count(counted, -1)
            for name in sorted(self.parked.pop(counted, set()), key=str.encode):
                self.rotation[name] = self._band_min(parse(name).priority)

    def _count(self, counted: str, by: int) -> None:
        self.running[counted] += by
        if self.running[counted] <= 0:
            del self.running[counted]

    def remove_session(self, session: str) -> None:
        """The session paused or ended: its queued tasks leave at once."""
        for priority, name in self.queued.pop(session, {}).items():
            self.lists.pop((priority, session), None)
            entry = parse(name)
            if entry.kind in ("a", "u"):
                sub = self.subs[(priority, entry.counted)]
                while session in sub:
                    sub.remove(session)
                if sub:
                    continue
                self.key_entries.pop((priority, entry.counted), None)
            self.rotation.pop(name, None)
            if entry.cap is not None:
                self.parked[entry.counted].discard(name)
