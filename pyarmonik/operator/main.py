"""``pyarmonik operator``: kopf running the handlers, and the operator's loops, until stopped.

Standalone (one operator per cluster: the chart runs one replica; no kopf
peering objects to install), progress kept in annotations (the custom
resources' status schemas hold only what users read), and kopf's own
liveness endpoint for the operator pod's probe. The grids' storage is
opened by ``connect``, which the wiring gives (the Redis adapters).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import kopf

from pyarmonik.operator import context, grids, handlers, kube, loops, model
from pyarmonik.settings import OperatorSettings

log = logging.getLogger(__name__)

ANNOTATION_PREFIX = "pyarmonik.io"


def kopf_settings(config: OperatorSettings) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    # Never put on a resource by this operator (no handler needs one); named
    # so that kopf removes the one an older version left.
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


async def run_operator(config: OperatorSettings, stop: asyncio.Event, *, connect: grids.Connect) -> None:
    if config.log_level != "DEBUG":  # kopf says "succeeded" for every handler run
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    namespaces = [config.watch_namespace] if config.watch_namespace else []
    liveness = f"http://0.0.0.0:{config.liveness_port}/healthz" if config.liveness_port else None
    client = await asyncio.to_thread(kube.Kube)
    log.info(
        "operator watching %s (resync every %s s)",
        f"namespace {config.watch_namespace}" if namespaces else "every namespace",
        config.resync_seconds,
    )
    image = model.ImageDefaults(repository=config.image_repository, tag=config.image_tag)
    grid_storage = grids.Grids(connect)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        ctx = context.Context(kube=client, grids=grid_storage, image=image, http=http)
        rounds = asyncio.create_task(
            loops.run(
                ctx,
                namespaces=namespaces,
                resync_seconds=config.resync_seconds,
                autoscale_seconds=config.autoscale_seconds,
            )
        )
        try:
            await kopf.operator(
                registry=handlers.build_registry(),
                settings=kopf_settings(config),
                standalone=True,
                clusterwide=not namespaces,
                namespaces=namespaces,
                liveness_endpoint=liveness,
                memo=kopf.Memo(context=ctx),
                stop_flag=stop,
            )
        finally:
            rounds.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rounds
            await grid_storage.aclose()
