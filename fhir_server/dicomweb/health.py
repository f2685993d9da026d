"""Is each hospital's Orthanc usable? Up or down, its version, how long `/system` took, and whether the
DICOMweb plugin is loaded. Shared by `GET /health/orthanc` and `fhir-server doctor`.

Checks run concurrently and each is bounded by the Orthanc timeouts, so one dead PACS cannot stall the
answer. Orthanc URLs are left out: clients only ever see our addresses.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from fhir_server.dicomweb.connections import HospitalConnection
from fhir_server.dicomweb.orthanc_errors import status_failure, transport_failure
from fhir_server.dicomweb.runtime import DicomwebRuntime, RuntimeDep
from fhir_server.observability.health import metrics_refreshers, readiness_checks
from fhir_server.observability.metrics import SYNC_LAG

router = APIRouter(prefix="/health", tags=["health"])

DICOMWEB_PLUGIN = "dicom-web"


@dataclass(frozen=True)
class OrthancHealth:
    hospital: HospitalConnection
    status: Literal["up", "down"]
    latency_ms: float | None = None
    version: str | None = None
    dicomweb: bool | None = None
    error: str | None = None

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
        }


async def check_orthanc(http: httpx.AsyncClient, hospital: HospitalConnection) -> OrthancHealth:
    started = time.perf_counter()
    try:
        system = await http.get(f"{hospital.orthanc_url}/system", auth=hospital.auth)
        latency = (time.perf_counter() - started) * 1000
        if system.status_code != 200:
            failure = status_failure(hospital.name, system.status_code)
            return OrthancHealth(hospital, "down", latency, error=failure.message)
        plugins = await http.get(f"{hospital.orthanc_url}/plugins", auth=hospital.auth)
    except httpx.TransportError as exc:
        failure = transport_failure(hospital.name, exc, http.timeout.read or 0.0)
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


@router.get("/orthanc")
async def orthanc_health(runtime: RuntimeDep) -> JSONResponse:
    # Always 200: a hospital's PACS being down does not make this server unhealthy for a load balancer;
    # `status` and each hospital's entry say what is down.
    hospitals = await run_in_threadpool(lambda: list(runtime.connections.all()))
    checks = await check_all(runtime.http, hospitals)
    return JSONResponse({"status": overall(checks), "hospitals": [check.to_json() for check in checks]})


async def orthanc_readiness(request: Request) -> dict[str, Any]:
    """For /health/ready: every hospital's Orthanc, reported without failing readiness."""
    runtime: DicomwebRuntime = request.app.state.dicomweb
    hospitals = await run_in_threadpool(lambda: list(runtime.connections.all()))
    checks = await check_all(runtime.http, hospitals)
    return {"status": overall(checks), "hospitals": [check.to_json() for check in checks]}


def refresh_sync_lag(request: Request) -> None:
    """Sets fhir_sync_lag_seconds{hospital} from each hospital's last completed sync."""
    runtime: DicomwebRuntime = request.app.state.dicomweb
    now = datetime.now(UTC)
    for hospital in runtime.connections.all():
        completed = runtime.sync.state.get(hospital.organization_id).last_completed_at
        if completed is None:
            continue
        if completed.tzinfo is None:
            completed = completed.replace(tzinfo=UTC)
        SYNC_LAG.labels(hospital.identifier).set((now - completed).total_seconds())


readiness_checks["orthanc"] = orthanc_readiness
metrics_refreshers.append(refresh_sync_lag)
