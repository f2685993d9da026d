"""What the DICOMweb part of the running server holds: the pooled HTTP client to the Orthancs, the stores,
and the optional background sync loop (FHIR_DICOMWEB_SYNC_INTERVAL_SECONDS, off by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request

from fhir_server.api.services import Services
from fhir_server.dicomweb.connections import ConnectionStore
from fhir_server.dicomweb.lookup import resolve_find_ids
from fhir_server.dicomweb.orthanc_rest import timeouts
from fhir_server.dicomweb.sync import SyncServices, sync_hospitals
from fhir_server.dicomweb.sync_state import SyncStateStore
from fhir_server.dicomweb.synced_studies import SyncedStudies
from fhir_server.master_key import MasterKey
from fhir_server.settings import Settings

log = logging.getLogger(__name__)

# One pool for the proxy traffic to every hospital; bounded so a flood of viewers cannot exhaust sockets.
_POOL = httpx.Limits(max_connections=64, max_keepalive_connections=16)


@dataclass
class DicomwebRuntime:
    http: httpx.AsyncClient
    connections: ConnectionStore
    studies: SyncedStudies
    sync: SyncServices


def sync_services(services: Services) -> SyncServices:
    db = services.connection.db
    return SyncServices(
        repository=services.repository,
        find_ids=resolve_find_ids(services.find_ids),
        connections=ConnectionStore(db, MasterKey.load_or_create(services.settings.data_dir)),
        state=SyncStateStore(db),
        studies=SyncedStudies(db),
        settings=services.settings,
    )


def ensure_indexes(sync: SyncServices) -> None:
    sync.connections.ensure_indexes()
    sync.studies.ensure_indexes()


@asynccontextmanager
async def dicomweb_runtime(services: Services) -> AsyncIterator[DicomwebRuntime]:
    sync = sync_services(services)
    await asyncio.to_thread(ensure_indexes, sync)
    async with httpx.AsyncClient(
        timeout=timeouts(services.settings), limits=_POOL, follow_redirects=False
    ) as http:
        runtime = DicomwebRuntime(http, sync.connections, sync.studies, sync)
        async with _background_sync(sync, services.settings):
            yield runtime


@asynccontextmanager
async def _background_sync(sync: SyncServices, settings: Settings) -> AsyncIterator[None]:
    interval = settings.dicomweb_sync_interval_seconds
    if interval <= 0:
        yield
        return
    stop = threading.Event()
    idle = threading.Event()
    idle.set()
    task = asyncio.create_task(_sync_forever(sync, interval, stop, idle))
    try:
        yield
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # A pass stops between studies once `stop` is set; each Orthanc call is bounded by the timeouts.
        grace = settings.orthanc_connect_timeout_seconds + settings.orthanc_timeout_seconds + 5
        if not await asyncio.to_thread(idle.wait, grace):
            log.warning("dicomweb sync still running at shutdown after %.0f s", grace)


async def _sync_forever(
    sync: SyncServices, interval: float, stop: threading.Event, idle: threading.Event
) -> None:
    while not stop.is_set():
        await asyncio.to_thread(_one_pass, sync, stop, idle)
        await asyncio.sleep(interval)


def _one_pass(sync: SyncServices, stop: threading.Event, idle: threading.Event) -> None:
    idle.clear()
    try:
        sync_hospitals(sync, stop=stop)
    except Exception:
        # The loop must outlive one bad pass (e.g. the database briefly unreachable); the next one retries.
        log.exception("dicomweb background sync pass failed")
    finally:
        idle.set()


async def _runtime(request: Request) -> DicomwebRuntime:
    runtime: DicomwebRuntime = request.app.state.dicomweb
    return runtime


RuntimeDep = Annotated[DicomwebRuntime, Depends(_runtime)]
