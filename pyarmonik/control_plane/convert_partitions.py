"""Partitions and applications: ``PartitionRaw``, ``ApplicationRaw`` and their lists."""

from __future__ import annotations

from armonik.protogen.common import applications_common_pb2 as apps_pb
from armonik.protogen.common import partitions_common_pb2 as pb

from pyarmonik.control_plane import convert, filter_conversion
from pyarmonik.core import filters
from pyarmonik.core.models import Application, Partition


def partition_to_pb(partition: Partition) -> pb.PartitionRaw:
    return pb.PartitionRaw(
        id=partition.partition_id,
        parent_partition_ids=partition.parent_partition_ids,
        pod_reserved=partition.pod_reserved,
        pod_max=partition.pod_max,
        # ArmoniK's map of strings is where a partition shows how it shares its agents.
        pod_configuration={**partition.pod_configuration, **partition.fair_share.pod_configuration()},
        preemption_percentage=partition.preemption_percentage,
        priority=partition.priority,
    )


def partition_query(request: pb.ListPartitionsRequest) -> filters.ListQuery:
    return convert.list_query(
        request, filter_conversion.partition_filters(request.filters), filter_conversion.partition_sort(request.sort)
    )


def partitions_response(request: pb.ListPartitionsRequest, page: filters.Page[Partition]) -> pb.ListPartitionsResponse:
    return pb.ListPartitionsResponse(
        partitions=[partition_to_pb(p) for p in page.items],
        page=request.page,
        page_size=request.page_size,
        total=page.total,
    )


def application_to_pb(application: Application) -> apps_pb.ApplicationRaw:
    return apps_pb.ApplicationRaw(
        name=application.name,
        version=application.version,
        namespace=application.namespace,
        service=application.service,
    )


def application_query(request: apps_pb.ListApplicationsRequest) -> filters.ListQuery:
    return convert.list_query(
        request,
        filter_conversion.application_filters(request.filters),
        filter_conversion.application_sort(request.sort),
    )


def applications_response(
    request: apps_pb.ListApplicationsRequest, page: filters.Page[Application]
) -> apps_pb.ListApplicationsResponse:
    return apps_pb.ListApplicationsResponse(
        applications=[application_to_pb(a) for a in page.items],
        page=request.page,
        page_size=request.page_size,
        total=page.total,
    )
