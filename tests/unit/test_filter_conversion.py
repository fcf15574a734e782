"""API list filters and sorts (protobuf) converted to the domain's filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from armonik.common import Session as ApiSession
from armonik.common import Task as ApiTask
from armonik.common import TaskStatus as ApiTaskStatus
from armonik.common.filter import (
    ApplicationFilter,
    OutputFilter,
    PartitionFilter,
    ResultFilter,
    SessionFilter,
    SessionTaskOptionFilter,
    TaskOptionFilter,
)
from armonik.protogen.common import (
    applications_common_pb2,
    applications_fields_pb2,
    filters_common_pb2,
    partitions_common_pb2,
    partitions_fields_pb2,
    partitions_filters_pb2,
    results_common_pb2,
    results_fields_pb2,
    results_filters_pb2,
    sessions_common_pb2,
    sessions_fields_pb2,
    sessions_filters_pb2,
    sort_direction_pb2,
    tasks_common_pb2,
    tasks_fields_pb2,
    tasks_filters_pb2,
)
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from pyarmonik.control_plane import filter_conversion as conv
from pyarmonik.core.errors import InvalidArgument
from pyarmonik.core.filters import Condition, ListQuery, Op, Sort, ValueKind, apply, matches
from pyarmonik.core.models import Application, Partition, Result, Session, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus

T0 = 1_700_000_000.0
ASC, DESC = sort_direction_pb2.SORT_DIRECTION_ASC, sort_direction_pb2.SORT_DIRECTION_DESC


def task(**overrides: Any) -> Task:
    fields: dict[str, Any] = {
        "task_id": "task-1",
        "session_id": "session-abc",
        "status": TaskStatus.COMPLETED,
        "options": TaskOptions(priority=3, max_duration=2.0, options={"a.b": "x"}),
        "created_at": T0,
        "payload_id": "payload-1",
        "ended_at": T0 + 2.0,
    }
    fields.update(overrides)
    return Task(**fields)


def session(**overrides: Any) -> Session:
    fields: dict[str, Any] = {
        "session_id": "session-1",
        "status": SessionStatus.RUNNING,
        "options": TaskOptions(max_duration=2.0, options={"a.b": "x"}),
        "partition_ids": ["default", "gpu"],
        "created_at": T0,
    }
    fields.update(overrides)
    return Session(**fields)


def result(**overrides: Any) -> Result:
    fields: dict[str, Any] = {
        "session_id": "session-1",
        "result_id": "result-1",
        "name": "output",
        "status": ResultStatus.COMPLETED,
        "created_at": T0,
        "size": 10,
        "opaque_id": b"blob-7",
    }
    fields.update(overrides)
    return Result(**fields)


def one(condition: Condition) -> tuple[tuple[Condition, ...], ...]:
    return ((condition,),)


def task_filter_of(*filter_fields: tasks_filters_pb2.FilterField) -> tasks_filters_pb2.Filters:
    """Raw protobuf: one clause, the AND of ``filter_fields``."""
    return tasks_filters_pb2.Filters(**{"or": [tasks_filters_pb2.FiltersAnd(**{"and": list(filter_fields)})]})


def summary(field: int) -> tasks_fields_pb2.TaskField:
    return tasks_fields_pb2.TaskField(task_summary_field=tasks_fields_pb2.TaskSummaryField(field=field))


def string_condition(value: str = "x") -> filters_common_pb2.FilterString:
    return filters_common_pb2.FilterString(value=value, operator=filters_common_pb2.FILTER_STRING_OPERATOR_EQUAL)


# ---------------------------------------------------------------------- tasks


def test_a_task_status_filter_becomes_a_status_condition() -> None:
    converted = conv.task_filters((ApiTask.status == ApiTaskStatus.COMPLETED).to_disjunction().to_message())
    assert converted == one(Condition("status", ValueKind.STATUS, Op.EQ, int(TaskStatus.COMPLETED)))
    assert matches(task(), converted)
    assert not matches(task(status=TaskStatus.ERROR), converted)


def test_a_task_status_not_equal_filter_excludes_that_status() -> None:
    converted = conv.task_filters((ApiTask.status != ApiTaskStatus.ERROR).to_message())
    assert converted[0][0].op is Op.NE
    assert matches(task(), converted) and not matches(task(status=TaskStatus.ERROR), converted)


def test_ands_and_ors_keep_their_structure() -> None:
    after = datetime.fromtimestamp(T0 - 1, tz=UTC)
    api = (ApiTask.created_at > after) & (TaskOptionFilter().priority >= 3) | ApiTask.session_id.contains("abc")
    converted = conv.task_filters(api.to_message())
    assert converted == (
        (
            Condition("created_at", ValueKind.DATE, Op.GT, T0 - 1),
            Condition("options.priority", ValueKind.NUMBER, Op.GE, 3),
        ),
        (Condition("session_id", ValueKind.STRING, Op.CONTAINS, "abc"),),
    )
    assert matches(task(session_id="zzz"), converted)
    assert not matches(task(session_id="zzz", options=TaskOptions(priority=2)), converted)
    assert matches(task(options=TaskOptions(priority=0)), converted)


def test_a_date_filter_keeps_sub_second_precision() -> None:
    converted = conv.task_filters(
        task_filter_of(
            tasks_filters_pb2.FilterField(
                field=summary(tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_CREATED_AT),
                filter_date=filters_common_pb2.FilterDate(
                    value=Timestamp(seconds=int(T0), nanos=123_456_789),
                    operator=filters_common_pb2.FILTER_DATE_OPERATOR_EQUAL,
                ),
            )
        )
    )
    assert converted[0][0].value == pytest.approx(T0 + 0.123456789, abs=1e-6)
    assert matches(task(created_at=T0 + 0.123456789), converted)
    assert not matches(task(created_at=T0 + 0.1234), converted)


def test_a_duration_filter_becomes_seconds() -> None:
    converted = conv.task_filters((ApiTask.creation_to_end_duration < timedelta(seconds=3)).to_message())
    assert converted == one(Condition("creation_to_end_duration", ValueKind.DURATION, Op.LT, 3.0))
    assert matches(task(), converted)
    assert not matches(task(ended_at=T0 + 5.0), converted)
    assert not matches(task(ended_at=None), converted)


def test_task_option_fields_map_under_options() -> None:
    converted = conv.task_filters((TaskOptionFilter().max_duration >= timedelta(milliseconds=1500)).to_message())
    assert converted == one(Condition("options.max_duration", ValueKind.DURATION, Op.GE, 1.5))
    assert matches(task(), converted)


def test_a_generic_task_option_becomes_a_string_filter_on_its_key() -> None:
    converted = conv.task_filters((TaskOptionFilter()["a.b"] == "x").to_message())
    assert converted == one(Condition("options.options.a.b", ValueKind.STRING, Op.EQ, "x"))
    assert matches(task(), converted)
    assert not matches(task(options=TaskOptions()), converted)


def test_the_task_error_field_reads_the_output_error() -> None:
    converted = conv.task_filters(OutputFilter().error.contains("boom").to_message())
    assert converted == one(Condition("output_error", ValueKind.STRING, Op.CONTAINS, "boom"))
    assert matches(task(output_error="kaboom!"), converted)


def test_an_empty_filter_message_matches_everything() -> None:
    assert conv.task_filters(tasks_filters_pb2.Filters()) == ()


def test_a_converted_filter_and_sort_drive_a_listing() -> None:
    tasks = [task(task_id=f"t{i}", created_at=T0 + i, status=TaskStatus(4 + i % 2)) for i in range(6)]
    sort = tasks_common_pb2.ListTasksRequest.Sort(
        field=summary(tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_CREATED_AT), direction=DESC
    )
    query = ListQuery(
        where=conv.task_filters((ApiTask.status == ApiTaskStatus.COMPLETED).to_message()),
        sort=conv.task_sort(sort),
        page_size=2,
    )
    page = apply(tasks, query)
    assert [t.task_id for t in page.items] == ["t4", "t2"] and page.total == 3


# ---------------------------------------------- every enum value has a mapping

ENTITY_TABLES = [
    (
        "task",
        tasks_fields_pb2.TaskSummaryEnumField,
        lambda n: tasks_fields_pb2.TaskField(task_summary_field=tasks_fields_pb2.TaskSummaryField(field=n)),
        lambda f: conv.task_sort(tasks_common_pb2.ListTasksRequest.Sort(field=f)),
        task(),
    ),
    (
        "task option",
        tasks_fields_pb2.TaskOptionEnumField,
        lambda n: tasks_fields_pb2.TaskField(task_option_field=tasks_fields_pb2.TaskOptionField(field=n)),
        lambda f: conv.task_sort(tasks_common_pb2.ListTasksRequest.Sort(field=f)),
        task(),
    ),
    (
        "session",
        sessions_fields_pb2.SessionRawEnumField,
        lambda n: sessions_fields_pb2.SessionField(session_raw_field=sessions_fields_pb2.SessionRawField(field=n)),
        lambda f: conv.session_sort(sessions_common_pb2.ListSessionsRequest.Sort(field=f)),
        session(),
    ),
    (
        "session option",
        sessions_fields_pb2.TaskOptionEnumField,
        lambda n: sessions_fields_pb2.SessionField(task_option_field=sessions_fields_pb2.TaskOptionField(field=n)),
        lambda f: conv.session_sort(sessions_common_pb2.ListSessionsRequest.Sort(field=f)),
        session(),
    ),
    (
        "result",
        results_fields_pb2.ResultRawEnumField,
        lambda n: results_fields_pb2.ResultField(result_raw_field=results_fields_pb2.ResultRawField(field=n)),
        lambda f: conv.result_sort(results_common_pb2.ListResultsRequest.Sort(field=f)),
        result(),
    ),
    (
        "partition",
        partitions_fields_pb2.PartitionRawEnumField,
        lambda n: partitions_fields_pb2.PartitionField(
            partition_raw_field=partitions_fields_pb2.PartitionRawField(field=n)
        ),
        lambda f: conv.partition_sort(partitions_common_pb2.ListPartitionsRequest.Sort(field=f)),
        Partition("default"),
    ),
    (
        "application",
        applications_fields_pb2.ApplicationRawEnumField,
        lambda n: applications_fields_pb2.ApplicationField(
            application_field=applications_fields_pb2.ApplicationRawField(field=n)
        ),
        lambda f: conv.application_sort(applications_common_pb2.ListApplicationsRequest.Sort(fields=[f])),
        Application("app", "1.0", "ns", "svc"),
    ),
]


@pytest.mark.parametrize(
    ("entity", "enum", "make_field", "sort_of", "record"), ENTITY_TABLES, ids=[t[0] for t in ENTITY_TABLES]
)
def test_every_api_field_maps_to_a_field_of_the_domain_record(
    entity: str, enum: Any, make_field: Any, sort_of: Any, record: object
) -> None:
    not_sortable = {"SESSION_RAW_ENUM_FIELD_OPTIONS"}
    for name, number in enum.items():
        if number == 0 or name in not_sortable:
            continue
        sort = sort_of(make_field(number))
        assert sort is not None, name
        apply([record, record], ListQuery(sort=sort))  # raises InvalidArgument when the path does not exist


# --------------------------------------------------------------------- sessions


def test_a_session_partition_filter_tests_array_membership() -> None:
    converted = conv.session_filters(SessionFilter()("partition_ids").contains("gpu").to_message())
    assert converted == one(Condition("partition_ids", ValueKind.ARRAY, Op.CONTAINS, "gpu"))
    assert matches(session(), converted)
    assert not matches(session(partition_ids=["default"]), converted)


def test_a_session_boolean_filter_uses_is() -> None:
    converted = conv.session_filters((~ApiSession.client_submission).to_message())
    assert converted == one(Condition("client_submission", ValueKind.BOOLEAN, Op.IS, False))
    assert matches(session(client_submission=False), converted)
    assert not matches(session(), converted)


def test_a_session_status_filter_uses_the_session_status_number() -> None:
    converted = conv.session_filters((SessionFilter()("status") == SessionStatus.CLOSED).to_message())
    assert converted == one(Condition("status", ValueKind.STATUS, Op.EQ, int(SessionStatus.CLOSED)))
    assert matches(session(status=SessionStatus.CLOSED), converted)


def test_session_task_options_and_generic_options_are_filterable() -> None:
    max_duration = SessionTaskOptionFilter().max_duration == timedelta(seconds=2)
    converted = conv.session_filters((max_duration & (SessionTaskOptionFilter()["a.b"] == "x")).to_message())
    assert converted == (
        (
            Condition("options.max_duration", ValueKind.DURATION, Op.EQ, 2.0),
            Condition("options.options.a.b", ValueKind.STRING, Op.EQ, "x"),
        ),
    )
    assert matches(session(), converted)


def test_a_session_duration_filter_reads_the_computed_duration() -> None:
    converted = conv.session_filters((SessionFilter()("duration") > timedelta(seconds=5)).to_message())
    assert matches(session(closed_at=T0 + 6), converted)
    assert not matches(session(), converted)


def test_the_session_options_field_cannot_be_filtered() -> None:
    field = sessions_fields_pb2.SessionField(
        session_raw_field=sessions_fields_pb2.SessionRawField(field=sessions_fields_pb2.SESSION_RAW_ENUM_FIELD_OPTIONS)
    )
    message = sessions_filters_pb2.Filters(
        **{
            "or": [
                sessions_filters_pb2.FiltersAnd(
                    **{"and": [sessions_filters_pb2.FilterField(field=field, filter_string=string_condition())]}
                )
            ]
        }
    )
    with pytest.raises(InvalidArgument, match="SESSION_RAW_ENUM_FIELD_OPTIONS"):
        conv.session_filters(message)


def test_the_session_options_field_cannot_be_sorted_on() -> None:
    field = sessions_fields_pb2.SessionField(
        session_raw_field=sessions_fields_pb2.SessionRawField(field=sessions_fields_pb2.SESSION_RAW_ENUM_FIELD_OPTIONS)
    )
    with pytest.raises(InvalidArgument, match="SESSION_RAW_ENUM_FIELD_OPTIONS"):
        conv.session_sort(sessions_common_pb2.ListSessionsRequest.Sort(field=field))


# ---------------------------------------------------------------------- results


def result_field(number: int) -> results_fields_pb2.ResultField:
    return results_fields_pb2.ResultField(result_raw_field=results_fields_pb2.ResultRawField(field=number))


def result_filter_of(filter_field: results_filters_pb2.FilterField) -> results_filters_pb2.Filters:
    return results_filters_pb2.Filters(**{"or": [results_filters_pb2.FiltersAnd(**{"and": [filter_field]})]})


def test_a_result_size_filter_is_numeric() -> None:
    converted = conv.result_filters((ResultFilter()("size") > 3).to_message())
    assert converted == one(Condition("size", ValueKind.NUMBER, Op.GT, 3))
    assert matches(result(), converted) and not matches(result(size=3), converted)


def test_a_result_status_filter_uses_the_result_status_number() -> None:
    converted = conv.result_filters((ResultFilter()("status") == ResultStatus.COMPLETED).to_message())
    assert matches(result(), converted) and not matches(result(status=ResultStatus.ABORTED), converted)


def test_a_result_opaque_id_filter_compares_the_decoded_bytes() -> None:
    field = result_field(results_fields_pb2.RESULT_RAW_ENUM_FIELD_OPAQUE_ID)
    starts = filters_common_pb2.FilterString(
        value="blob-", operator=filters_common_pb2.FILTER_STRING_OPERATOR_STARTS_WITH
    )
    converted = conv.result_filters(
        result_filter_of(results_filters_pb2.FilterField(field=field, filter_string=starts))
    )
    assert converted == one(Condition("opaque_id", ValueKind.STRING, Op.STARTS_WITH, "blob-"))
    assert matches(result(), converted) and not matches(result(opaque_id=b""), converted)


def test_result_manual_deletion_is_a_boolean_field_sortable_but_not_string_filterable() -> None:
    # results' FilterField carries no filter_boolean in the API, so this field is only sorted on
    field = result_field(results_fields_pb2.RESULT_RAW_ENUM_FIELD_MANUAL_DELETION)
    sort = conv.result_sort(results_common_pb2.ListResultsRequest.Sort(field=field, direction=DESC))
    assert sort == Sort("manual_deletion", descending=True)
    filter_field = results_filters_pb2.FilterField(field=field, filter_string=string_condition("true"))
    with pytest.raises(InvalidArgument, match="'manual_deletion' is a boolean field"):
        conv.result_filters(result_filter_of(filter_field))


# ------------------------------------------------------ partitions, applications


def test_partition_filters_map_id_and_parents() -> None:
    by_id = conv.partition_filters((PartitionFilter()("id") == "gpu").to_message())
    assert by_id == one(Condition("partition_id", ValueKind.STRING, Op.EQ, "gpu"))
    parents = conv.partition_filters(PartitionFilter()("parent_partition_ids").contains("root").to_message())
    assert matches(Partition("gpu", parent_partition_ids=["root"]), by_id)
    assert matches(Partition("gpu", parent_partition_ids=["root"]), parents)
    assert not matches(Partition("cpu"), parents)


def test_a_partition_number_filter_compares_integers() -> None:
    converted = conv.partition_filters((PartitionFilter()("pod_max") <= 4).to_message())
    assert matches(Partition("p", pod_max=4), converted) and not matches(Partition("p", pod_max=5), converted)


def test_an_application_filter_reads_the_application_fields() -> None:
    converted = conv.application_filters(ApplicationFilter()("namespace").startswith("ns.").to_message())
    assert converted == one(Condition("namespace", ValueKind.STRING, Op.STARTS_WITH, "ns."))
    assert matches(Application("app", "1", "ns.team", "svc"), converted)


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "value",
    [
        Timestamp(seconds=int(T0), nanos=1_000_000_000),  # found by tests/fuzz: ValueError -> INTERNAL
        Timestamp(seconds=-(2**62)),
        Timestamp(seconds=253_402_300_800),  # year 10000
    ],
    ids=["nanos-of-1e9", "seconds-of-minus-2-62", "year-10000"],
)
def test_a_date_filter_outside_the_timestamp_range_is_an_invalid_argument(value: Timestamp) -> None:
    date = filters_common_pb2.FilterDate(value=value, operator=filters_common_pb2.FILTER_DATE_OPERATOR_AFTER)
    field = summary(tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_CREATED_AT)
    with pytest.raises(InvalidArgument, match="filter value"):
        conv.task_filters(task_filter_of(tasks_filters_pb2.FilterField(field=field, filter_date=date)))


@pytest.mark.parametrize(
    "value",
    [Duration(seconds=315_576_000_001), Duration(nanos=1_000_000_000), Duration(seconds=1, nanos=-1)],
    ids=["beyond-10000-years", "nanos-of-1e9", "signs-disagree"],
)
def test_a_duration_filter_outside_the_duration_range_is_an_invalid_argument(value: Duration) -> None:
    duration = filters_common_pb2.FilterDuration(
        value=value, operator=filters_common_pb2.FILTER_DURATION_OPERATOR_LONGER_THAN
    )
    field = summary(tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_CREATION_TO_END_DURATION)
    with pytest.raises(InvalidArgument, match="filter value: Duration"):
        conv.task_filters(task_filter_of(tasks_filters_pb2.FilterField(field=field, filter_duration=duration)))


def test_a_filter_without_a_field_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="names no field"):
        conv.task_filters(task_filter_of(tasks_filters_pb2.FilterField(filter_string=string_condition())))


def test_a_filter_with_an_empty_field_message_is_an_invalid_argument() -> None:
    filter_field = tasks_filters_pb2.FilterField(field=tasks_fields_pb2.TaskField(), filter_string=string_condition())
    with pytest.raises(InvalidArgument, match="names no field"):
        conv.task_filters(task_filter_of(filter_field))


def test_a_filter_on_the_unspecified_field_is_an_invalid_argument() -> None:
    field = summary(tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_UNSPECIFIED)
    with pytest.raises(InvalidArgument, match="names no field"):
        conv.task_filters(task_filter_of(tasks_filters_pb2.FilterField(field=field, filter_string=string_condition())))


def test_a_filter_on_an_empty_generic_option_key_is_an_invalid_argument() -> None:
    field = tasks_fields_pb2.TaskField(task_option_generic_field=tasks_fields_pb2.TaskOptionGenericField(field=""))
    with pytest.raises(InvalidArgument, match="names no field"):
        conv.task_filters(task_filter_of(tasks_filters_pb2.FilterField(field=field, filter_string=string_condition())))


def test_a_filter_on_an_unknown_field_number_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="unknown task field 99"):
        conv.task_filters(
            task_filter_of(tasks_filters_pb2.FilterField(field=summary(99), filter_string=string_condition()))
        )


def test_a_filter_without_a_value_condition_is_an_invalid_argument() -> None:
    field = summary(tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_TASK_ID)
    with pytest.raises(InvalidArgument, match="'task_id' has no value condition"):
        conv.task_filters(task_filter_of(tasks_filters_pb2.FilterField(field=field)))


MISMATCHES = [
    (
        tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_CREATED_AT,
        {"filter_string": string_condition()},
        "'created_at' is a date field and takes no string filter",
    ),
    (
        tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_SESSION_ID,
        {"filter_status": tasks_filters_pb2.FilterStatus(value=4)},
        "'session_id' is a string field and takes no status filter",
    ),
    (
        tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_STATUS,
        {"filter_number": filters_common_pb2.FilterNumber(value=4)},
        "'status' is a status field and takes no number filter",
    ),
    (
        tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_ENDED_AT,
        {"filter_duration": filters_common_pb2.FilterDuration(value=Duration(seconds=1))},
        "'ended_at' is a date field and takes no duration filter",
    ),
    (
        tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_CREATION_TO_END_DURATION,
        {"filter_date": filters_common_pb2.FilterDate(value=Timestamp(seconds=1))},
        "'creation_to_end_duration' is a duration field and takes no date filter",
    ),
    (
        tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_TASK_ID,
        {"filter_boolean": filters_common_pb2.FilterBoolean(value=True)},
        "'task_id' is a string field and takes no boolean filter",
    ),
    (
        tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_TASK_ID,
        {"filter_array": filters_common_pb2.FilterArray(value="x")},
        "'task_id' is a string field and takes no array filter",
    ),
]


@pytest.mark.parametrize(("field", "condition", "message"), MISMATCHES)
def test_a_value_kind_that_does_not_fit_the_field_is_an_invalid_argument(
    field: int, condition: dict[str, Any], message: str
) -> None:
    filter_field = tasks_filters_pb2.FilterField(field=summary(field), **condition)
    with pytest.raises(InvalidArgument, match=message):
        conv.task_filters(task_filter_of(filter_field))


def test_a_non_string_filter_on_a_generic_option_is_an_invalid_argument() -> None:
    field = tasks_fields_pb2.TaskField(task_option_generic_field=tasks_fields_pb2.TaskOptionGenericField(field="k"))
    filter_field = tasks_filters_pb2.FilterField(field=field, filter_number=filters_common_pb2.FilterNumber(value=1))
    with pytest.raises(InvalidArgument, match=r"'options\.options\.k' is a string field"):
        conv.task_filters(task_filter_of(filter_field))


def test_an_unknown_operator_is_an_invalid_argument() -> None:
    field = summary(tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_TASK_ID)
    condition = filters_common_pb2.FilterString(value="x", operator=42)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="unknown string operator 42"):
        conv.task_filters(task_filter_of(tasks_filters_pb2.FilterField(field=field, filter_string=condition)))


def test_an_error_in_a_later_clause_is_still_reported() -> None:
    good = ApiTask.status == ApiTaskStatus.COMPLETED
    message = good.to_message()
    getattr(message, "or").add().MergeFrom(
        tasks_filters_pb2.FiltersAnd(**{"and": [tasks_filters_pb2.FilterField(filter_string=string_condition())]})
    )
    with pytest.raises(InvalidArgument):
        conv.task_filters(message)


# ------------------------------------------------------------------ sorts


def test_a_sort_without_a_field_is_the_default_order() -> None:
    assert conv.task_sort(tasks_common_pb2.ListTasksRequest.Sort(direction=DESC)) is None
    assert conv.task_sort(tasks_common_pb2.ListTasksRequest.Sort(field=tasks_fields_pb2.TaskField())) is None


def test_a_sort_on_the_unspecified_field_is_the_default_order() -> None:
    sort = tasks_common_pb2.ListTasksRequest.Sort(field=summary(tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_UNSPECIFIED))
    assert conv.task_sort(sort) is None


@pytest.mark.parametrize(
    ("direction", "descending"),
    [(sort_direction_pb2.SORT_DIRECTION_UNSPECIFIED, False), (ASC, False), (DESC, True)],
)
def test_only_desc_sorts_descending(direction: int, descending: bool) -> None:
    field = summary(tasks_fields_pb2.TASK_SUMMARY_ENUM_FIELD_CREATED_AT)
    sort = conv.task_sort(tasks_common_pb2.ListTasksRequest.Sort(field=field, direction=direction))  # type: ignore[arg-type]
    assert sort == Sort("created_at", descending=descending)


def test_a_task_sort_on_a_generic_option_sorts_on_its_key() -> None:
    field = tasks_fields_pb2.TaskField(task_option_generic_field=tasks_fields_pb2.TaskOptionGenericField(field="k.1"))
    sort = conv.task_sort(tasks_common_pb2.ListTasksRequest.Sort(field=field, direction=ASC))
    assert sort == Sort("options.options.k.1")


def test_a_task_sort_on_an_option_sorts_under_options() -> None:
    field = tasks_fields_pb2.TaskField(
        task_option_field=tasks_fields_pb2.TaskOptionField(field=tasks_fields_pb2.TASK_OPTION_ENUM_FIELD_PRIORITY)
    )
    sort = conv.task_sort(tasks_common_pb2.ListTasksRequest.Sort(field=field, direction=DESC))
    assert sort == Sort("options.priority", descending=True)


def test_session_result_and_partition_sorts_map_their_fields() -> None:
    session_field = sessions_fields_pb2.SessionField(
        session_raw_field=sessions_fields_pb2.SessionRawField(
            field=sessions_fields_pb2.SESSION_RAW_ENUM_FIELD_CLOSED_AT
        )
    )
    partition_field = partitions_fields_pb2.PartitionField(
        partition_raw_field=partitions_fields_pb2.PartitionRawField(
            field=partitions_fields_pb2.PARTITION_RAW_ENUM_FIELD_ID
        )
    )
    assert conv.session_sort(sessions_common_pb2.ListSessionsRequest.Sort(field=session_field)) == Sort("closed_at")
    result_sort = results_common_pb2.ListResultsRequest.Sort(
        field=result_field(results_fields_pb2.RESULT_RAW_ENUM_FIELD_SIZE), direction=DESC
    )
    assert conv.result_sort(result_sort) == Sort("size", descending=True)
    partition_sort = partitions_common_pb2.ListPartitionsRequest.Sort(field=partition_field)
    assert conv.partition_sort(partition_sort) == Sort("partition_id")


def test_an_application_sort_uses_its_first_field() -> None:
    def field(number: int) -> applications_fields_pb2.ApplicationField:
        return applications_fields_pb2.ApplicationField(
            application_field=applications_fields_pb2.ApplicationRawField(field=number)
        )

    sort = applications_common_pb2.ListApplicationsRequest.Sort(
        fields=[
            field(applications_fields_pb2.APPLICATION_RAW_ENUM_FIELD_SERVICE),
            field(applications_fields_pb2.APPLICATION_RAW_ENUM_FIELD_NAME),
        ],
        direction=DESC,
    )
    assert conv.application_sort(sort) == Sort("service", descending=True)
    assert conv.application_sort(applications_common_pb2.ListApplicationsRequest.Sort()) is None


def test_a_sort_on_an_unknown_field_number_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="unknown task field"):
        conv.task_sort(tasks_common_pb2.ListTasksRequest.Sort(field=summary(99)))


def test_partition_filters_reject_a_kind_they_cannot_carry() -> None:
    field = partitions_fields_pb2.PartitionField(
        partition_raw_field=partitions_fields_pb2.PartitionRawField(
            field=partitions_fields_pb2.PARTITION_RAW_ENUM_FIELD_ID
        )
    )
    filter_field = partitions_filters_pb2.FilterField(
        field=field, filter_number=filters_common_pb2.FilterNumber(value=1)
    )
    message = partitions_filters_pb2.Filters(**{"or": [partitions_filters_pb2.FiltersAnd(**{"and": [filter_field]})]})
    with pytest.raises(InvalidArgument, match="'partition_id' is a string field"):
        conv.partition_filters(message)
