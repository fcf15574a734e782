"""Partitions, applications, versions, health, the current user, the legacy
Submitter and the standard gRPC health service."""

from __future__ import annotations

import importlib.metadata

import grpc
from armonik.client import ArmoniKHealthChecks, ArmoniKPartitions, ArmoniKResults, ArmoniKTasks, ArmoniKVersions
from armonik.common import Direction, Partition, ServiceHealthCheckStatus, TaskDefinition
from armonik.protogen.client.applications_service_pb2_grpc import ApplicationsStub
from armonik.protogen.client.auth_service_pb2_grpc import AuthenticationStub
from armonik.protogen.client.submitter_service_pb2_grpc import SubmitterStub
from armonik.protogen.common import applications_common_pb2, auth_common_pb2, objects_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

import pyarmonik
from tests.helpers import grpc_code

from .conftest import default_options


def test_partitions_are_listed_sorted_and_filtered(channel: grpc.Channel) -> None:
    partitions = ArmoniKPartitions(channel)

    total, listed = partitions.list_partitions(sort_field=Partition.id, sort_direction=Direction.DESC)
    assert (total, [p.id for p in listed]) == (2, ["other", "default"])

    total, filtered = partitions.list_partitions(Partition.id == "other")
    assert (total, [p.id for p in filtered]) == (1, ["other"])


def test_a_partition_is_read_by_id_and_an_unknown_one_is_not_found(channel: grpc.Channel) -> None:
    partitions = ArmoniKPartitions(channel)

    partition = partitions.get_partition("default")

    assert (partition.id, partition.pod_reserved, partition.pod_max, partition.priority) == ("default", 1, 1, 1)
    # how it shares its agents: the default, fair by session
    assert partition.pod_configuration == {
        "pyarmonik.io/fair-share-mode": "fair",
        "pyarmonik.io/fair-share-key": "session",
        "pyarmonik.io/fair-share-default-weight": "1",
    }
    assert grpc_code(lambda: partitions.get_partition("nowhere")) == grpc.StatusCode.NOT_FOUND


def test_applications_named_in_task_options_are_listed(channel: grpc.Channel, session_id: str) -> None:
    results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
    payload = results.create_results({"payload": b"p"}, session_id)["payload"].result_id
    outputs = results.create_results_metadata(["o1", "o2"], session_id)
    options = default_options(application_name="app", application_version="1.0")
    tasks.submit_tasks(
        session_id,
        [
            TaskDefinition(payload_id=payload, expected_output_ids=[o.result_id], options=options)
            for o in outputs.values()
        ],
    )

    response = ApplicationsStub(channel).ListApplications(
        applications_common_pb2.ListApplicationsRequest(page=0, page_size=10)
    )

    assert response.total == 1
    assert (response.applications[0].name, response.applications[0].version) == ("app", "1.0")


def test_versions_give_this_grid_and_the_api_package(channel: grpc.Channel) -> None:
    versions = ArmoniKVersions(channel).list_versions()

    assert versions == {"core": pyarmonik.__version__, "api": importlib.metadata.version("armonik")}


def test_health_checks_report_every_component_healthy(channel: grpc.Channel) -> None:
    report = ArmoniKHealthChecks(channel).check_health()

    assert set(report) == {"state", "queue", "objects"}
    assert all(entry["status"] == ServiceHealthCheckStatus.HEALTHY for entry in report.values())


def test_the_current_user_is_anonymous_with_every_permission(channel: grpc.Channel) -> None:
    user = AuthenticationStub(channel).GetCurrentUser(auth_common_pb2.GetCurrentUserRequest()).user

    assert user.username == "anonymous" and list(user.roles) == []
    assert {"Sessions:CreateSession", "Tasks:SubmitTasks", "Results:WatchResults", "Events:GetEvents"} <= set(
        user.permissions
    )


def test_the_legacy_submitter_answers_unimplemented(channel: grpc.Channel) -> None:
    call = SubmitterStub(channel).GetServiceConfiguration

    assert grpc_code(lambda: call(objects_pb2.Empty())) == grpc.StatusCode.UNIMPLEMENTED


def test_the_standard_health_service_reports_serving(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)

    for service in ("", "armonik.api.grpc.v1.sessions.Sessions", "armonik.api.grpc.v1.tasks.Tasks"):
        response = stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING
