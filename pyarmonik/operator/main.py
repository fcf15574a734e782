"""``pyarmonik operator``: kopf running the handlers, until stopped.

Standalone (one operator per cluster: the chart runs one replica; no kopf
peering objects to install), progress kept in annotations (the custom
resources' status schemas hold only what users read), and kopf's own
liveness endpoint for the operator pod's probe.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import kopf

from pyarmonik.operator import autoscaler, handlers, kube, queue_metrics
from pyarmonik.settings import OperatorSettings

log = logging.getLogger(__name__)

ANNOTATION_PREFIX = "pyarmonik.io"


def kopf_settings(config: OperatorSettings) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = f"{ANNOTATION_PREFIX}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    # Kubernetes Events for what a user must act on; a handler's success
    # every resync would bury them.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 60
    settings.execution.max_workers = 4
    return settings


async def run_operator(config: OperatorSettings, stop: asyncio.Event) -> None:
    if config.log_level != "DEBUG":  # kopf says "succeeded" for every handler and timer run
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    namespaces = [config.watch_namespace] if config.watch_namespace else []
    liveness = f"http://0.0.0.0:{config.liveness_port}/healthz" if config.liveness_port else None
    client = await asyncio.to_thread(kube.Kube)
    log.info(
        "operator watching %s (resync every %s s)",
        f"namespace {config.watch_namespace}" if namespaces else "every namespace",
        config.resync_seconds,
    )
    queues = queue_metrics.GridQueues()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        try:
            await _run(
                config,
                client,
                namespaces,
                liveness,
                memo=kopf.Memo(kube=client, scaler=autoscaler.PartitionScaler(), grid_queues=queues, http=http),
                stop=stop,
            )
        finally:
            await queues.aclose()


async def _run(
    config: OperatorSettings,
    client: kube.Kube,
    namespaces: list[str],
    liveness: str | None,
    *,
    memo: kopf.Memo,
    stop: asyncio.Event,
) -> None:
    await kopf.operator(
        registry=handlers.build_registry(
            resync_seconds=config.resync_seconds, autoscale_seconds=config.autoscale_seconds
        ),
        settings=kopf_settings(config),
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=liveness,
        memo=memo,
        stop_flag=stop,
    )
