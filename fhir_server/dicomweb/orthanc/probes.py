"""Is each hospital's Orthanc usable? Up or down, its version, how long `/system` took, and whether the
DICOMweb plugin is loaded. `check_orthanc`/`check_all` ask now (for `fhir-server doctor`); `OrthancProbes`
answers `GET /health/orthanc` from cached, bounded probes.

A PACS that accepts connections but never answers must not stall health checks (nor pile up sockets on
every poll of a monitoring system), so for the endpoint:
- a result is reused for `FRESH_SECONDS`; after that the next request starts a new probe;
- at most one probe per hospital is in flight at any time, whoever asks and however often;
- a request waits at most `ANSWER_WITHIN_SECONDS` for probes, then answers with what it has: the last result
  (with its `checkedAt`), or "did not answer" for a hospital never yet heard from; the probe carries on in the
  background, bounded by its own timeout, and its result serves the next requests.
Orthanc URLs are left out of every report: clients only ever see our addresses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.orthanc.errors import status_failure, transport_failure
from fhir_server.settings import Settings

log = logging.getLogger(__name__)

DICOMWEB_PLUGIN = "dicom-web"
ANSWER_WITHIN_SECONDS = 1.5
FRESH_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class OrthancHealth:
    hospital: HospitalConnection
    status: Literal["up", "down"]
    latency_ms: float | None = None
    version: str | None = None
    dicomweb: bool | None = None
    error: str | None = None
    checked_at: datetime | None = None  # when the probe behind a cached answer finished

    def to_json(self) -> dict[str, Any]:
        return {
            "organization": self.hospital.organization_reference,
            "identifier": self.hospital.identifier,
            "name": self.hospital.name,
            "status": self.status,
            "version": self.version,
            "latencyMs": None if self.latency_ms is None else round(self.latency_ms, 1),
            "dicomweb": self.dicomweb,
            **({"error": self.error} if self.error else {}),
            **({"checkedAt": self.checked_at.isoformat(timespec="seconds")} if self.checked_at else {}),
        }


def ping_timeout(settings: Settings, read: float, connect: float) -> httpx.Timeout:
    """Never longer than the proxy's own bounds, and short: a probe is a ping, not a transfer."""
    return httpx.Timeout(
        min(read, settings.orthanc_timeout_seconds),
        connect=min(connect, settings.orthanc_connect_timeout_seconds),
    )


async def check_orthanc(
    http: httpx.AsyncClient, hospital: HospitalConnection, timeout: httpx.Timeout | None = None
) -> OrthancHealth:
    bound = timeout if timeout is not None else http.timeout
    started = time.perf_counter()
    try:
        system = await http.get(f"{hospital.orthanc_url}/system", auth=hospital.auth, timeout=bound)
        latency = (time.perf_counter() - started) * 1000
        if system.status_code != 200:
            failure = status_failure(hospital.name, system.status_code)
            return OrthancHealth(hospital, "down", latency, error=failure.message)
        plugins = await http.get(f"{hospital.orthanc_url}/plugins", auth=hospital.auth, timeout=bound)
    except httpx.TransportError as exc:
        failure = transport_failure(hospital.name, exc, bound.read or 0.0)
        return OrthancHealth(hospital, "down", error=failure.message)
    try:
        version = str(system.json().get("Version", "")) or None
        has_dicomweb = plugins.status_code == 200 and DICOMWEB_PLUGIN in plugins.json()
    except (ValueError, AttributeError):
        return OrthancHealth(
            hospital, "down", latency, error="the server at this URL does not answer like Orthanc"
        )
    error = None if has_dicomweb else "the DICOMweb plugin is not loaded in this Orthanc"
    return OrthancHealth(hospital, "up" if has_dicomweb else "down", latency, version, has_dicomweb, error)


async def check_all(http: httpx.AsyncClient, hospitals: list[HospitalConnection]) -> list[OrthancHealth]:
    return list(await asyncio.gather(*(check_orthanc(http, hospital) for hospital in hospitals)))


def overall(checks: list[OrthancHealth]) -> Literal["pass", "warn", "fail"]:
    """pass: all up (or no hospital yet); warn: some down; fail: all down."""
    down = sum(1 for check in checks if check.status == "down")
    if down == 0:
        return "pass"
    return "fail" if down == len(checks) else "warn"


class OrthancProbes:
    """The cached, bounded probes behind `GET /health/orthanc` (one per server, on its event loop)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        *,
        answer_within: float = ANSWER_WITHIN_SECONDS,
        fresh_for: float = FRESH_SECONDS,
        probe_timeout: float = PROBE_TIMEOUT_SECONDS,
    ) -> None:
        self._http = http
        self._timeout = ping_timeout(settings, probe_timeout, probe_timeout)
        self._answer_within = answer_within
        self._fresh_for = fresh_for
        self._latest: dict[str, tuple[float, OrthancHealth]] = {}  # organization id -> (monotonic, result)
        self._running: dict[str, asyncio.Task[None]] = {}

    async def check(self, hospitals: list[HospitalConnection]) -> list[OrthancHealth]:
        now = time.monotonic()
        waiting = [self._probe(h) for h in hospitals if not self._fresh(h.organization_id, now)]
        if waiting:
            # `wait` leaves unfinished probes running (no cancel): their results serve the next requests.
            await asyncio.wait(waiting, timeout=self._answer_within)
        return [self._report(h) for h in hospitals]

    async def close(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _fresh(self, key: str, now: float) -> bool:
        latest = self._latest.get(key)
        return latest is not None and now - latest[0] < self._fresh_for

    def _probe(self, hospital: HospitalConnection) -> asyncio.Task[None]:
        key = hospital.organization_id
        running = self._running.get(key)
        if running is None:
            running = asyncio.create_task(self._run(hospital), name=f"orthanc-probe-{key}")
            self._running[key] = running
        return running

    async def _run(self, hospital: HospitalConnection) -> None:
        key = hospital.organization_id
        try:
            result = await check_orthanc(self._http, hospital, self._timeout)
        except Exception:  # a bug in one probe must not leave the hospital "being checked" for ever
            log.exception("health probe of the Orthanc of %s failed", hospital.name)
            result = OrthancHealth(hospital, "down", error="the health probe failed (see the server log)")
        finally:
            self._running.pop(key, None)
        self._latest[key] = (time.monotonic(), dataclasses.replace(result, checked_at=datetime.now(UTC)))

    def _report(self, hospital: HospitalConnection) -> OrthancHealth:
        latest = self._latest.get(hospital.organization_id)
        if latest is None:
            return OrthancHealth(
                hospital,
                "down",
                error=f"the Orthanc of {hospital.name} did not answer within {self._answer_within:g} s "
                "(still being checked)",
            )
        # The connection as registered now (a renamed hospital shows its new name at once).
        return dataclasses.replace(latest[1], hospital=hospital)
