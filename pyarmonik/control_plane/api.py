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


def permissions() -> list[str]:
    """Every RPC as ArmoniK names its permissions: ``Service:Rpc``."""
    return [f"{service.name}:{method.name}" for service in services() for method in service.methods]
