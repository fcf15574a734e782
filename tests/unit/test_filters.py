"""The pure list filters: every operator of every kind, sort and pagination."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from pyarmonik.core.errors import InvalidArgument
from pyarmonik.core.filters import (
    Condition,
    Filters,
    ListQuery,
    Op,
    Sort,
    ValueKind,
    apply,
    compile_filters,
    matches,
    session_ids_in,
)
from pyarmonik.core.models import Result, Session, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus

T0 = 1_700_000_000.0

STRING, NUMBER, DATE, BOOLEAN = ValueKind.STRING, ValueKind.NUMBER, ValueKind.DATE, ValueKind.BOOLEAN
STATUS, ARRAY, DURATION = ValueKind.STATUS, ValueKind.ARRAY, ValueKind.DURATION


def make_task(**overrides: object) -> Task:
    fields: dict[str, object] = {
        "task_id": "task-Alpha-1",
        "session_id": "session-1",
        "status": TaskStatus.COMPLETED,
        "options": TaskOptions(priority=5, max_duration=60.0, options={"team": "red", "a.b.c": "dotted"}),
        "created_at": T0,
        "payload_id": "payload-1",
        "started_at": T0 + 10.0,
        "ended_at": T0 + 30.0,
    }
    fields.update(overrides)
    return Task(**fields)  # type: ignore[arg-type]


def make_session(**overrides: object) -> Session:
    fields: dict[str, object] = {
        "session_id": "session-1",
        "status": SessionStatus.RUNNING,
        "options": TaskOptions(),
        "partition_ids": ["default", "gpu"],
        "created_at": T0,
        "client_submission": True,
        "worker_submission": False,
    }
    fields.update(overrides)
    return Session(**fields)  # type: ignore[arg-type]


def where(*conditions: Condition) -> Filters:
    """One clause: the AND of ``conditions``."""
    return (tuple(conditions),)


def holds(record: object, field: str, kind: ValueKind, op: Op, value: object) -> bool:
    return matches(record, where(Condition(field, kind, op, value)))


# ------------------------------------------------------------------ operators

STRING_CASES = [
    (Op.EQ, "task-Alpha-1", True),
    (Op.EQ, "task-alpha-1", False),
    (Op.NE, "task-Alpha-1", False),
    (Op.NE, "other", True),
    (Op.CONTAINS, "Alpha", True),
    (Op.CONTAINS, "alpha", False),
    (Op.NOT_CONTAINS, "Alpha", False),
    (Op.NOT_CONTAINS, "beta", True),
    (Op.STARTS_WITH, "task-", True),
    (Op.STARTS_WITH, "Task-", False),
    (Op.ENDS_WITH, "-1", True),
    (Op.ENDS_WITH, "-2", False),
]


@pytest.mark.parametrize(("op", "value", "expected"), STRING_CASES)
def test_every_string_operator_is_case_sensitive(op: Op, value: str, expected: bool) -> None:
    assert holds(make_task(), "task_id", STRING, op, value) is expected


def test_string_contains_is_case_sensitive() -> None:
    assert holds(make_task(task_id="ABC"), "task_id", STRING, Op.CONTAINS, "B")
    assert not holds(make_task(task_id="ABC"), "task_id", STRING, Op.CONTAINS, "b")


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [(Op.EQ, "", True), (Op.NE, "", False), (Op.NE, "x", True), (Op.CONTAINS, "", True), (Op.STARTS_WITH, "x", False)],
)
def test_a_missing_string_counts_as_empty(op: Op, value: str, expected: bool) -> None:
    assert holds(make_task(), "options.options.absent", STRING, op, value) is expected


NUMBER_CASES = [
    (Op.EQ, 5, True),
    (Op.EQ, 4, False),
    (Op.NE, 5, False),
    (Op.NE, 4, True),
    (Op.LT, 6, True),
    (Op.LT, 5, False),
    (Op.LE, 5, True),
    (Op.LE, 4, False),
    (Op.GE, 5, True),
    (Op.GE, 6, False),
    (Op.GT, 4, True),
    (Op.GT, 5, False),
]


@pytest.mark.parametrize(("op", "value", "expected"), NUMBER_CASES)
def test_every_number_operator_compares_integers(op: Op, value: int, expected: bool) -> None:
    assert holds(make_task(), "options.priority", NUMBER, op, value) is expected


@pytest.mark.parametrize("op", [Op.EQ, Op.LT, Op.LE, Op.GE, Op.GT])
def test_a_missing_number_matches_no_comparison(op: Op) -> None:
    assert not holds(SimpleNamespace(size=None), "size", NUMBER, op, 0)


def test_a_missing_number_is_not_equal_to_anything() -> None:
    assert holds(SimpleNamespace(size=None), "size", NUMBER, Op.NE, 0)


DATE_CASES = [
    (Op.EQ, T0, True),
    (Op.EQ, T0 + 1e-7, True),  # within the nanosecond round-trip tolerance
    (Op.EQ, T0 + 1.0, False),
    (Op.NE, T0 + 1e-7, False),
    (Op.NE, T0 + 1.0, True),
    (Op.LT, T0 + 1.0, True),
    (Op.LT, T0, False),
    (Op.LE, T0, True),
    (Op.LE, T0 - 1.0, False),
    (Op.GE, T0, True),
    (Op.GE, T0 + 1.0, False),
    (Op.GT, T0 - 1.0, True),
    (Op.GT, T0, False),
]


@pytest.mark.parametrize(("op", "value", "expected"), DATE_CASES)
def test_every_date_operator_compares_seconds(op: Op, value: float, expected: bool) -> None:
    assert holds(make_task(), "created_at", DATE, op, value) is expected


@pytest.mark.parametrize(("op", "expected"), [(Op.EQ, False), (Op.NE, True), (Op.LT, False), (Op.GE, False)])
def test_a_missing_date_matches_only_not_equal(op: Op, expected: bool) -> None:
    assert holds(make_task(ended_at=None), "ended_at", DATE, op, T0) is expected


DURATION_CASES = [
    (Op.EQ, 30.0, True),
    (Op.EQ, 30.0 + 1e-7, True),
    (Op.NE, 30.0, False),
    (Op.NE, 31.0, True),
    (Op.LT, 31.0, True),
    (Op.LT, 30.0, False),
    (Op.LE, 30.0, True),
    (Op.LE, 29.0, False),
    (Op.GE, 30.0, True),
    (Op.GE, 31.0, False),
    (Op.GT, 29.0, True),
    (Op.GT, 30.0, False),
]


@pytest.mark.parametrize(("op", "value", "expected"), DURATION_CASES)
def test_every_duration_operator_compares_seconds_of_a_computed_property(op: Op, value: float, expected: bool) -> None:
    assert holds(make_task(), "creation_to_end_duration", DURATION, op, value) is expected


@pytest.mark.parametrize(("op", "expected"), [(Op.EQ, False), (Op.NE, True), (Op.GT, False)])
def test_a_missing_duration_matches_only_not_equal(op: Op, expected: bool) -> None:
    assert holds(make_task(options=TaskOptions()), "options.max_duration", DURATION, op, 1.0) is expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("client_submission", True, True), ("client_submission", False, False), ("worker_submission", False, True)],
)
def test_boolean_is_compares_truthiness(field: str, value: bool, expected: bool) -> None:
    assert holds(make_session(), field, BOOLEAN, Op.IS, value) is expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (Op.EQ, TaskStatus.COMPLETED, True),
        (Op.EQ, int(TaskStatus.COMPLETED), True),
        (Op.EQ, TaskStatus.ERROR, False),
        (Op.NE, TaskStatus.ERROR, True),
        (Op.NE, int(TaskStatus.COMPLETED), False),
    ],
)
def test_status_equality_uses_the_enum_number(op: Op, value: int, expected: bool) -> None:
    assert holds(make_task(), "status", STATUS, op, value) is expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (Op.CONTAINS, "gpu", True),
        (Op.CONTAINS, "cpu", False),
        (Op.NOT_CONTAINS, "gpu", False),
        (Op.NOT_CONTAINS, "cpu", True),
    ],
)
def test_array_operators_test_membership(op: Op, value: str, expected: bool) -> None:
    assert holds(make_session(), "partition_ids", ARRAY, op, value) is expected


def test_array_contains_is_membership_not_substring() -> None:
    assert not holds(make_session(), "partition_ids", ARRAY, Op.CONTAINS, "gp")


@pytest.mark.parametrize(
    ("kind", "op"),
    [
        (STRING, Op.LT),
        (STRING, Op.IS),
        (NUMBER, Op.CONTAINS),
        (DATE, Op.STARTS_WITH),
        (DURATION, Op.IS),
        (STATUS, Op.LT),
        (BOOLEAN, Op.EQ),
        (ARRAY, Op.EQ),
    ],
)
def test_an_operator_that_does_not_fit_its_kind_is_an_invalid_argument(kind: ValueKind, op: Op) -> None:
    with pytest.raises(InvalidArgument, match="does not apply"):
        holds(make_task(), "task_id", kind, op, 1)


def test_a_number_filter_with_a_non_numeric_value_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match=r"options\.priority"):
        holds(make_task(), "options.priority", NUMBER, Op.EQ, "high")


def test_a_filter_on_a_field_the_record_lacks_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        holds(make_task(), "no_such_field", STRING, Op.EQ, "x")


# ------------------------------------------------------- AND / OR composition


def test_an_empty_filter_matches_everything() -> None:
    assert matches(make_task(), ())


def test_an_empty_clause_matches_everything() -> None:
    assert matches(make_task(), ((),))


def test_conditions_of_a_clause_must_all_hold() -> None:
    first = Condition("session_id", STRING, Op.EQ, "session-1")
    second = Condition("options.priority", NUMBER, Op.GT, 5)
    third = Condition("status", STATUS, Op.EQ, TaskStatus.COMPLETED)
    assert matches(make_task(), where(first, third))
    assert not matches(make_task(), where(first, second))
    assert not matches(make_task(), where(first, second, third))
    assert matches(make_task(options=TaskOptions(priority=9)), where(first, second, third))


def test_any_clause_suffices() -> None:
    miss = (Condition("session_id", STRING, Op.EQ, "other"),)
    hit = (Condition("options.options.team", STRING, Op.EQ, "red"),)
    assert matches(make_task(), (miss, hit))
    assert not matches(make_task(), (miss, miss))


def test_compiled_filters_are_cached_per_filter() -> None:
    filters = where(Condition("task_id", STRING, Op.EQ, "x"))
    same = where(Condition("task_id", STRING, Op.EQ, "x"))
    assert compile_filters(filters) is compile_filters(same)


def test_a_filter_with_an_unhashable_value_still_compiles() -> None:
    filters = where(Condition("options.priority", NUMBER, Op.EQ, 5), Condition("x", STRING, Op.NE, [1]))  # type: ignore[arg-type]
    predicate = compile_filters(filters)
    assert predicate(SimpleNamespace(options=SimpleNamespace(priority=5), x="y"))


# ---------------------------------------------------------------- field values


def test_filters_follow_dotted_paths_and_read_properties() -> None:
    task = make_task()
    assert matches(task, ((Condition("status", ValueKind.STATUS, Op.EQ, TaskStatus.COMPLETED),),))
    assert matches(task, ((Condition("options.priority", ValueKind.NUMBER, Op.EQ, 5),),))
    assert matches(task, ((Condition("options.max_duration", ValueKind.DURATION, Op.EQ, 60.0),),))
    assert matches(task, ((Condition("creation_to_end_duration", ValueKind.DURATION, Op.EQ, 30.0),),))


def test_generic_option_keys_may_contain_dots() -> None:
    assert holds(make_task(), "options.options.a.b.c", STRING, Op.EQ, "dotted")


def test_an_absent_generic_option_matches_no_value() -> None:
    assert not holds(make_task(), "options.options.absent", STRING, Op.EQ, "dotted")


def test_bytes_read_as_text() -> None:
    result = Result("s", "r", "name", ResultStatus.CREATED, T0, opaque_id=b"opaque-\xff")
    assert holds(result, "opaque_id", STRING, Op.STARTS_WITH, "opaque-")
    assert holds(result, "opaque_id", STRING, Op.EQ, "opaque-\ufffd")


def test_a_query_on_an_unknown_field_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="nope"):
        apply([make_task()], ListQuery(where=((Condition("nope", STRING, Op.EQ, "x"),),)))


# -------------------------------------------------------- sort and pagination


def numbered_tasks(n: int) -> list[Task]:
    return [make_task(task_id=f"t{i}", created_at=T0 + i, options=TaskOptions(priority=i % 3)) for i in range(n)]


def ids(tasks: list[Task]) -> list[str]:
    return [t.task_id for t in tasks]


def test_no_sort_keeps_the_input_order() -> None:
    tasks = numbered_tasks(5)[::-1]
    assert ids(apply(tasks, ListQuery()).items) == ["t4", "t3", "t2", "t1", "t0"]


def test_sort_ascending_and_descending() -> None:
    tasks = random.Random(1).sample(numbered_tasks(5), 5)
    ascending = apply(tasks, ListQuery(sort=Sort("created_at")))
    descending = apply(tasks, ListQuery(sort=Sort("created_at", descending=True)))
    assert ids(ascending.items) == ["t0", "t1", "t2", "t3", "t4"]
    assert ids(descending.items) == ["t4", "t3", "t2", "t1", "t0"]


def test_sort_is_stable_on_equal_keys() -> None:
    tasks = numbered_tasks(6)  # priorities 0 1 2 0 1 2
    assert ids(apply(tasks, ListQuery(sort=Sort("options.priority"))).items) == ["t0", "t3", "t1", "t4", "t2", "t5"]
    descending = apply(tasks, ListQuery(sort=Sort("options.priority", descending=True)))
    assert ids(descending.items) == ["t2", "t5", "t1", "t4", "t0", "t3"]


def test_none_values_sort_first_ascending_and_last_descending() -> None:
    tasks = [make_task(task_id="b", ended_at=T0 + 2), make_task(task_id="none", ended_at=None)]
    tasks.append(make_task(task_id="a", ended_at=T0 + 1))
    assert ids(apply(tasks, ListQuery(sort=Sort("ended_at"))).items) == ["none", "a", "b"]
    assert ids(apply(tasks, ListQuery(sort=Sort("ended_at", descending=True))).items) == ["b", "a", "none"]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("page_size", [1, 7, 50])
def test_partial_sort_pages_equal_a_full_sort(descending: bool, page_size: int) -> None:
    rng = random.Random(7)
    tasks = [
        make_task(task_id=f"t{i}", ended_at=None if rng.random() < 0.2 else T0 + rng.randint(0, 20)) for i in range(120)
    ]
    nones = [t for t in tasks if t.ended_at is None]
    valued = sorted((t for t in tasks if t.ended_at is not None), key=lambda t: t.ended_at, reverse=descending)  # type: ignore[arg-type,return-value]
    expected = valued + nones if descending else nones + valued
    for page in range(120 // page_size + 2):
        query = ListQuery(sort=Sort("ended_at", descending), page=page, page_size=page_size)
        got = apply(tasks, query)
        assert got.total == 120
        assert ids(got.items) == ids(expected[page * page_size : (page + 1) * page_size])


def test_sort_on_a_generic_option_puts_tasks_without_it_first() -> None:
    tasks = [make_task(task_id="z", options=TaskOptions(options={"k": "z"})), make_task(task_id="none")]
    tasks.append(make_task(task_id="a", options=TaskOptions(options={"k": "a"})))
    assert ids(apply(tasks, ListQuery(sort=Sort("options.options.k"))).items) == ["none", "a", "z"]


def test_pages_are_zero_based() -> None:
    tasks = numbered_tasks(5)
    first = apply(tasks, ListQuery(sort=Sort("created_at"), page=0, page_size=2))
    second = apply(tasks, ListQuery(sort=Sort("created_at"), page=1, page_size=2))
    last = apply(tasks, ListQuery(sort=Sort("created_at"), page=2, page_size=2))
    assert (ids(first.items), ids(second.items), ids(last.items)) == (["t0", "t1"], ["t2", "t3"], ["t4"])
    assert first.total == second.total == last.total == 5


def test_a_page_past_the_end_is_empty_with_the_total() -> None:
    page = apply(numbered_tasks(5), ListQuery(page=3, page_size=2))
    assert page.items == [] and page.total == 5


def test_page_size_zero_returns_only_the_total() -> None:
    page = apply(
        numbered_tasks(5), ListQuery(where=where(Condition("options.priority", NUMBER, Op.EQ, 0)), page_size=0)
    )
    assert page.items == [] and page.total == 2


@pytest.mark.parametrize(("page", "page_size"), [(-1, 10), (0, -1)])
def test_a_negative_page_or_page_size_is_an_invalid_argument(page: int, page_size: int) -> None:
    with pytest.raises(InvalidArgument):
        apply(numbered_tasks(2), ListQuery(page=page, page_size=page_size))


def test_total_counts_every_match_not_just_the_page() -> None:
    query = ListQuery(
        where=where(Condition("options.priority", NUMBER, Op.GE, 1)), sort=Sort("created_at"), page_size=2
    )
    page = apply(numbered_tasks(9), query)
    assert page.total == 6
    assert ids(page.items) == ["t1", "t2"]


def test_apply_accepts_any_iterable() -> None:
    page = apply(iter(numbered_tasks(3)), ListQuery(sort=Sort("created_at", descending=True)))
    assert ids(page.items) == ["t2", "t1", "t0"]


def test_sorting_on_an_unknown_field_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        apply(numbered_tasks(3), ListQuery(sort=Sort("nope")))


# ------------------------------------------------------------- session_ids_in


def session_is(session_id: str) -> Condition:
    return Condition("session_id", STRING, Op.EQ, session_id)


def test_session_ids_in_an_empty_filter_is_unbounded() -> None:
    assert session_ids_in(()) is None


def test_session_ids_in_collects_the_pinned_session_of_every_clause() -> None:
    other = Condition("status", STATUS, Op.EQ, TaskStatus.COMPLETED)
    assert session_ids_in(((session_is("a"), other), (session_is("b"),))) == frozenset({"a", "b"})


def test_session_ids_in_is_unbounded_when_one_clause_does_not_pin_a_session() -> None:
    loose = Condition("session_id", STRING, Op.STARTS_WITH, "a")
    assert session_ids_in(((session_is("a"),), (loose,))) is None
