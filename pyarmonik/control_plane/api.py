"""The ArmoniK API services this control plane serves, read from the
official stubs' descriptors (never a hand-kept list that could drift)."""

from __future__ import annotations

from armonik.protogen.client import (
    applications_service_pb2,
    auth_service_pb2,
    events_service_pb2,
    health_checks_service_pb2,
    partitions_service_pb2,
    results_service_pb2,
    sessions_service_pb2,
    submitter_service_pb2,
    tasks_service_pb2,
    versions_service_pb2,
)
from google.protobuf.descriptor import ServiceDescriptor

_MODULES = (
    applications_service_pb2,
    auth_service_pb2,
    events_service_pb2,
    health_checks_service_pb2,
    partitions_service_pb2,
    results_service_pb2,
    sessions_service_pb2,
    submitter_service_pb2,
    tasks_service_pb2,
    versions_service_pb2,
)


def services() -> list[ServiceDescriptor]:
    return [service for module in _MODULES for service in module.DESCRIPTOR.services_by_name.values()]


def service_names() -> list[str]:
    """Full names (``armonik.api.grpc.v1.sessions.Sessions``), as the standard health service knows them."""
    return [service.full_name for service in services()]


#: ArmoniK.Core names its permissions after its services, which are the
#: proto services' names except this one.
_PERMISSION_SERVICE = {"HealthChecksService": "HealthChecks"}


def permission_service(service: ServiceDescriptor) -> str:
    return _PERMISSION_SERVICE.get(service.name, service.name)


def permissions() -> list[str]:
    """Every RPC as ArmoniK names its permissions: ``Service:Method``."""
    return [f"{permission_service(service)}:{method.name}" for service in services() for method in service.methods]


def method_permissions() -> dict[str, str]:
    """gRPC method path (``/armonik.api.grpc.v1.sessions.Sessions/CreateSession``)
    -> the permission it needs (``Sessions:CreateSession``)."""
    return {
        f"/{service.full_name}/{method.name}": f"{permission_service(service)}:{method.name}"
        for service in services()
        for method in service.methods
    }
