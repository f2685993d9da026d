"""What the DICOMweb part of the running server holds: the pooled HTTP client to the Orthancs, the stores,
the health probes of `/health/orthanc`, "Sync now", and the background sync loop
(FHIR_DICOMWEB_SYNC_INTERVAL_SECONDS, 60 s by default; 0 switches it off).

The loop keeps one due time per hospital: a hospital is synced about every interval (±10 % jitter, so that
hospitals and server workers do not all hit their PACS in step), a failing one ever less often
(interval × 2^failures in a row, at most FHIR_DICOMWEB_SYNC_MAX_BACKOFF_SECONDS), so that a PACS down for a
weekend is not hammered and does not hold up the others. Hospitals registered while the server runs are
picked up within seconds. The lease of sync_state keeps it from syncing a hospital that a CLI `sync` or a
"Sync now" is syncing.

At start-up the server records its base URL in the data dir (for CLI commands) and rewrites registered
Endpoints still addressed under an old base of its own (fhir_server.dicomweb.hospitals.addresses).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request

from fhir_server.api.dependencies import Services
from fhir_server.dicomweb.hospitals.addresses import record_server_base
from fhir_server.dicomweb.hospitals.registration import rewrite_endpoint_addresses
from fhir_server.dicomweb.orthanc.connections import ConnectionStore, HospitalConnection
from fhir_server.dicomweb.orthanc.probes import OrthancProbes
from fhir_server.dicomweb.orthanc.rest import timeouts
from fhir_server.dicomweb.sync.runner import HospitalSyncResult, SyncServices, sync_hospital
from fhir_server.dicomweb.sync.state import SyncStateStore
from fhir_server.dicomweb.sync.synced_studies import SyncedStudies
from fhir_server.interactions.lookup import resolve_find_ids
from fhir_server.master_key import MasterKey
from fhir_server.patients import MatchCandidates
from fhir_server.settings import Settings

log = logging.getLogger(__name__)

# One pool for the proxy traffic to every hospital; bounded so a flood of viewers cannot exhaust sockets.
_POOL = httpx.Limits(max_connections=64, max_keepalive_connections=16)
JITTER = 0.1
# A (re)started server syncs each hospital within this many seconds (spread so they do not all start at
# once), and notices hospitals registered while it runs about as fast.
STARTUP_SPREAD_SECONDS = 5.0
_POLL_SECONDS = 5.0
# "Sync now" waits this long for a pass of the same hospital (background loop, CLI) to end.
SYNC_NOW_LEASE_WAIT_SECONDS = 120.0


@dataclass
class DicomwebRuntime:
    http: httpx.AsyncClient
    connections: ConnectionStore
    studies: SyncedStudies
    sync: SyncServices
    probes: OrthancProbes

    def sync_now(self, hospital: HospitalConnection) -> HospitalSyncResult:
        """One pass of this hospital now (blocking: call it from a worker thread)."""
        return sync_hospital(self.sync, hospital, lease_wait=SYNC_NOW_LEASE_WAIT_SECONDS)


def sync_services(services: Services) -> SyncServices:
    documents = services.connection.documents
    return SyncServices(
        repository=services.repository,
        find_ids=resolve_find_ids(services.find_ids),
        connections=ConnectionStore(documents, MasterKey.load_or_create(services.settings.data_dir)),
        state=SyncStateStore(documents),
        studies=SyncedStudies(documents),
        candidates=MatchCandidates(documents),
        settings=services.settings,
        connection=services.connection,
    )


def seal_passwords(sync: SyncServices) -> None:
    """Start-up data fix of hospital connections (their indexes are the schema's, created with the app)."""
    sync.connections.seal_plain_passwords()


def _start_up(sync: SyncServices) -> None:
    seal_passwords(sync)
    settings = sync.settings
    try:
        record_server_base(settings)
    except OSError as exc:  # a read-only data dir must not keep the server from starting
        log.warning("could not record the server's base URL in %s: %s", settings.data_dir, exc)
    try:
        rewritten = rewrite_endpoint_addresses(sync.repository, sync.connections, settings)
    except Exception:
        log.exception("could not check the Endpoint addresses of the registered hospitals")
        return
    for endpoint_id, old, new in rewritten:
        log.info("Endpoint/%s: address %s rewritten to %s (the server's base changed)", endpoint_id, old, new)


@asynccontextmanager
async def dicomweb_runtime(services: Services) -> AsyncIterator[DicomwebRuntime]:
    sync = sync_services(services)
    await asyncio.to_thread(_start_up, sync)
    async with httpx.AsyncClient(
        timeout=timeouts(services.settings), limits=_POOL, follow_redirects=False
    ) as http:
        probes = OrthancProbes(http, services.settings)
        runtime = DicomwebRuntime(http, sync.connections, sync.studies, sync, probes)
        try:
            async with _background_sync(sync, services.settings):
                yield runtime
        finally:
            await probes.close()  # before the client they use is closed


class SyncSchedule:
    """When each hospital's next background pass is due (monotonic seconds)."""

    def __init__(self, settings: Settings, rng: random.Random | None = None) -> None:
        self.interval = settings.dicomweb_sync_interval_seconds
        self.max_backoff = max(settings.dicomweb_sync_max_backoff_seconds, self.interval)
        self._rng = rng or random.Random()
        self._due: dict[str, float] = {}

    def delay(self, failures: int) -> float:
        """Until the next pass after one that ended with `failures` failed passes in a row."""
        base = min(self.interval * 2 ** min(failures, 30), self.max_backoff) if failures else self.interval
        return base * self._rng.uniform(1 - JITTER, 1 + JITTER)

    def due(self, hospitals: Iterable[HospitalConnection], now: float) -> list[HospitalConnection]:
        present = {h.organization_id: h for h in hospitals}
        for gone in set(self._due) - set(present):
            del self._due[gone]
        for key in present.keys() - self._due.keys():
            self._due[key] = now + self._rng.uniform(0, min(self.interval, STARTUP_SPREAD_SECONDS))
        return [h for key, h in present.items() if self._due[key] <= now]

    def done(self, organization_id: str, failures: int, now: float) -> None:
        self._due[organization_id] = now + self.delay(failures)

    def wait(self, now: float) -> float:
        """How long the loop may sleep: until the next due pass, but short enough to notice new hospitals."""
        soonest = min(self._due.values(), default=now + _POLL_SECONDS)
        return max(0.05, min(soonest - now, _POLL_SECONDS))


@asynccontextmanager
async def _background_sync(sync: SyncServices, settings: Settings) -> AsyncIterator[None]:
    if settings.dicomweb_sync_interval_seconds <= 0:
        yield
        return
    stop = threading.Event()
    idle = threading.Event()
    idle.set()
    task = asyncio.create_task(_sync_forever(sync, SyncSchedule(settings), stop, idle))
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
    sync: SyncServices, schedule: SyncSchedule, stop: threading.Event, idle: threading.Event
) -> None:
    while not stop.is_set():
        wait = await asyncio.to_thread(_run_due, sync, schedule, stop, idle)
        await asyncio.sleep(wait)


def _run_due(
    sync: SyncServices, schedule: SyncSchedule, stop: threading.Event, idle: threading.Event
) -> float:
    idle.clear()
    try:
        for hospital in schedule.due(sync.connections.all(), time.monotonic()):
            if stop.is_set():
                break
            failures = 0
            try:
                result = sync_hospital(sync, hospital, stop=stop)
                if result.failure is not None:
                    failures = sync.state.get(hospital.organization_id).failures
            except Exception:
                # The loop must outlive one bad pass (e.g. the database briefly unreachable); it retries.
                log.exception("dicomweb background sync of %s failed", hospital.name)
                failures = 1
            schedule.done(hospital.organization_id, failures, time.monotonic())
    except Exception:
        log.exception("dicomweb background sync could not list the hospitals")
        return schedule.interval
    finally:
        idle.set()
    return schedule.wait(time.monotonic())


async def _runtime(request: Request) -> DicomwebRuntime:
    runtime: DicomwebRuntime = request.app.state.dicomweb
    return runtime


RuntimeDep = Annotated[DicomwebRuntime, Depends(_runtime)]
