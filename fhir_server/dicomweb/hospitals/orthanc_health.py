"""`GET /health/orthanc`: each hospital's Orthanc (name, up/down, version, latency, DICOMweb plugin, error),
from the cached, bounded probes of `fhir_server.dicomweb.orthanc.probes`, so it answers within about 2 s even
when
a PACS accepts connections and never answers. It names hospitals and their state, so it needs an operator's
token (admin or `system/` scope; fhir_server.observability.ops_access) unless FHIR_PUBLIC_OPS_ENDPOINTS is
set. The public `/health/ready` says nothing about hospitals. Also keeps the sync-lag gauge of `/metrics`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from fhir_server.dicomweb.orthanc.probes import overall
from fhir_server.dicomweb.runtime import DicomwebRuntime, RuntimeDep
from fhir_server.observability.health import metrics_refreshers
from fhir_server.observability.metrics import SYNC_LAG
from fhir_server.observability.ops_access import OpsAccess

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/orthanc")
async def orthanc_health(runtime: RuntimeDep, _ops: OpsAccess) -> JSONResponse:
    # Always 200: a hospital's PACS being down does not make this server unhealthy for a load balancer;
    # `status` and each hospital's entry say what is down.
    hospitals = await run_in_threadpool(lambda: list(runtime.connections.all()))
    checks = await runtime.probes.check(hospitals)
    return JSONResponse({"status": overall(checks), "hospitals": [check.to_json() for check in checks]})


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


metrics_refreshers.append(refresh_sync_lag)
