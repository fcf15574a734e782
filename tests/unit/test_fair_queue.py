"""The fair-share rule (``pyarmonik.core.fair_queue``) in tables: weights,
empty keys, keys that come and go, caps, priorities, application and user
keys, FIFO mode. The Redis functions are held to the same tables by
``tests/integration/test_fair_queue_redis.py``."""

from __future__ import annotations

import collections

import pytest

from pyarmonik.core import fair_queue, fairshare
from pyarmonik.core.fair_queue import FairQueue, SessionInfo


def tasks(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def drain(queue: FairQueue, count: int | None = None, *, finish: bool = True) -> list[str]:
    """Pops up to ``count`` tasks (all when None), finishing each at once."""
    popped: list[str] = []
    while count is None or len(popped) < count:
        found = queue.pop()
        if found is None:
            break
        popped.append(found[0])
        if finish:
            queue.finish(found[0])
    return popped


def owners(popped: list[str]) -> str:
    """The session letter of each popped task, as one string."""
    return "".join(task[0] for task in popped)


@pytest.mark.parametrize(
    ("pushes", "order"),
    [
        # one session: its own order
        ([("a", 1, 3)], "aaa"),
        # equal weights: in turn, the first named first on a tie
        ([("a", 1, 3), ("b", 1, 3)], "ababab"),
        # a session that runs dry leaves; the others go on in turn
        ([("a", 1, 1), ("b", 1, 3), ("c", 1, 2)], "abcbcb"),
        # priorities are strict: every higher one first
        ([("a", 1, 2), ("b", 5, 2), ("c", 3, 1)], "bbcaa"),
    ],
)
def test_sessions_of_one_priority_take_turns_and_priorities_stay_strict(
    pushes: list[tuple[str, int, int]], order: str
) -> None:
    queue = FairQueue()
    for session, priority, count in pushes:
        queue.push(session, priority, tasks(session, count))
    assert owners(drain(queue)) == order


@pytest.mark.parametrize(
    ("weights", "window", "expected"),
    [
        ({"a": 1, "b": 2, "c": 4}, 70, {"a": 10, "b": 20, "c": 40}),
        ({"a": 1, "b": 3}, 40, {"a": 10, "b": 30}),
        ({"a": 0.5, "b": 1}, 30, {"a": 10, "b": 20}),
        ({"a": 100, "b": 1}, 101, {"a": 100, "b": 1}),
    ],
)
def test_keys_of_one_priority_share_dispatches_by_weight(
    weights: dict[str, float], window: int, expected: dict[str, int]
) -> None:
    queue = FairQueue(fairshare.fair_share(weights=weights))
    for session in weights:
        queue.push(session, 1, tasks(session, 1000))
    assert collections.Counter(owners(drain(queue, window))) == expected


def test_shares_stay_within_one_dispatch_of_the_weights_at_every_point_of_a_window() -> None:
    weights = {"a": 1.0, "b": 2.0, "c": 4.0}
    queue = FairQueue(fairshare.fair_share(weights=weights))
    for session in weights:
        queue.push(session, 1, tasks(session, 1000))
    seen: collections.Counter[str] = collections.Counter()
    for n, task in enumerate(drain(queue, 700), start=1):
        seen[task[0]] += 1
        for session, weight in weights.items():
            assert abs(seen[session] - n * weight / 7) < 2, (n, seen)


def test_a_small_session_arriving_after_a_flood_is_served_within_a_round() -> None:
    queue = FairQueue()
    queue.push("f", 1, tasks("f", 1000))
    assert owners(drain(queue, 300)) == "f" * 300
    queue.push("s", 1, tasks("s", 20))
    # it joins at the flood's virtual time (a tie, broken by name): in turn from now on
    assert owners(drain(queue, 40)) == "fs" * 20


def test_a_key_that_goes_and_comes_back_gets_no_credit_for_its_absence() -> None:
    queue = FairQueue()
    queue.push("a", 1, tasks("a", 100))
    queue.push("b", 1, tasks("b", 1))
    assert owners(drain(queue, 2)) == "ab"  # b ran dry and left
    assert owners(drain(queue, 10)) == "a" * 10
    queue.push("b", 1, ["b1"])
    assert owners(drain(queue, 4)) == "abaa"  # at the virtual time of a: a tie, broken by name


def test_an_empty_partition_pops_nothing_and_a_removed_session_leaves_at_once() -> None:
    queue = FairQueue()
    assert queue.pop() is None
    queue.push("a", 1, tasks("a", 3))
    queue.push("b", 1, tasks("b", 3))
    queue.remove_session("a")
    assert owners(drain(queue)) == "bbb"
    assert queue.pop() is None and not queue.rotation


def test_a_session_weight_overrides_the_partition_s_when_the_key_is_the_session() -> None:
    queue = FairQueue(fairshare.fair_share(weights={"a": 4}))
    queue.session("a", SessionInfo(weight=1.0))
    queue.session("b", SessionInfo(weight=3.0))
    queue.push("a", 1, tasks("a", 100))
    queue.push("b", 1, tasks("b", 100))
    assert collections.Counter(owners(drain(queue, 40))) == {"a": 10, "b": 30}


def test_a_capped_key_runs_at_most_its_cap_and_resumes_when_a_task_ends() -> None:
    queue = FairQueue(fairshare.fair_share(caps={"a": 2}))
    queue.push("a", 1, tasks("a", 10))
    queue.push("b", 1, tasks("b", 10))
    popped = drain(queue, 6, finish=False)
    assert owners(popped) == "ababbb"  # a parked at 2 running
    assert "1\ta" not in {n.split("\x01")[0] for n in queue.rotation}
    queue.finish(popped[0])
    assert owners(drain(queue, 2, finish=False)) == "ab"  # a rejoined at the smallest virtual time


def test_a_cap_for_every_key_holds_each_key_to_it() -> None:
    queue = FairQueue(fairshare.fair_share(caps={"*": 1}))
    for session in "abc":
        queue.push(session, 1, tasks(session, 3))
    popped = drain(queue, 5, finish=False)
    assert owners(popped) == "abc"  # each at its cap: nothing else runs
    queue.finish(popped[1])
    assert owners(drain(queue, 5, finish=False)) == "b"


def test_a_capped_key_is_held_across_priorities() -> None:
    queue = FairQueue(fairshare.fair_share(key="user", caps={"alice": 1}))
    queue.session("a", SessionInfo(owner="alice"))
    queue.session("b", SessionInfo(owner="alice"))
    queue.push("a", 2, tasks("a", 3))
    queue.push("b", 1, tasks("b", 3))
    popped = drain(queue, 5, finish=False)
    assert owners(popped) == "a"  # alice's entry at priority 1 parks when reached
    queue.finish(popped[0])
    assert owners(drain(queue, 1)) == "a"


def test_an_application_s_sessions_share_its_turns() -> None:
    queue = FairQueue(fairshare.fair_share(key="application"))
    queue.session("a", SessionInfo(application="risk"))
    queue.session("b", SessionInfo(application="risk"))
    queue.session("c", SessionInfo(application="trading"))
    for session in "abc":
        queue.push(session, 1, tasks(session, 10))
    assert owners(drain(queue, 8)) == "acbcacbc"


def test_users_share_by_weight_whatever_their_number_of_sessions() -> None:
    queue = FairQueue(fairshare.fair_share(key="user", weights={"bob": 2}))
    for session, owner in (("a", "alice"), ("b", "alice"), ("c", "alice"), ("d", "bob")):
        queue.session(session, SessionInfo(owner=owner))
        queue.push(session, 1, tasks(session, 100))
    counts = collections.Counter(owners(drain(queue, 60)))
    assert counts["d"] == 40 and counts["a"] + counts["b"] + counts["c"] == 20


def test_fifo_mode_serves_a_priority_in_arrival_order_across_sessions() -> None:
    queue = FairQueue(fairshare.fair_share(mode="fifo"))
    queue.push("f", 1, tasks("f", 4), at=fair_queue.FIFO_EPOCH + 10)
    queue.push("s", 1, tasks("s", 2), at=fair_queue.FIFO_EPOCH + 11)
    queue.push("f", 1, ["f9"], at=fair_queue.FIFO_EPOCH + 12)
    queue.push("u", 2, ["u0"], at=fair_queue.FIFO_EPOCH + 13)
    assert drain(queue) == ["u0", "f0", "f1", "f2", "f3", "s0", "s1", "f9"]


def test_a_task_given_back_is_served_first_again() -> None:
    queue = FairQueue()
    queue.push("a", 1, tasks("a", 3))
    [first] = drain(queue, 1)
    queue.push("a", 1, [first], head=True)
    assert drain(queue) == ["a0", "a1", "a2"]


def test_virtual_times_past_half_a_band_move_back_keeping_their_order() -> None:
    queue = FairQueue()
    queue.push("a", 1, tasks("a", 5))
    queue.push("b", 1, tasks("b", 5))
    base = fair_queue.band(1)
    queue.rotation["1\ta"] = base + fair_queue.HALF
    queue.rotation["1\tb"] = base + fair_queue.HALF - 0.5
    assert owners(drain(queue, 2)) == "ba"  # a's pop crossed HALF
    assert sorted(s - base for s in queue.rotation.values()) == [0.5, 1.0]


def test_entry_names_round_trip_and_plain_sessions_stay_plain() -> None:
    name = fair_queue.entry_name("3", "u", "alice", stride=fair_queue.stride_text(4), cap=2)
    assert name == "3\t\x01u0.25,2\talice"
    entry = fair_queue.parse(name)
    assert (entry.priority, entry.kind, entry.stride, entry.cap, entry.key) == ("3", "u", 0.25, 2, "alice")
    assert fair_queue.parse("3\tS").kind == "" and fair_queue.stride_text(1) == ""
