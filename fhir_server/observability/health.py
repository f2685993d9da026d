"""Health endpoints for orchestrators and the /metrics scrape endpoint.

`/health/live`: the process answers. `/health/ready`: the database answers a ping (503 otherwise). Both are
public (load balancers and orchestrators probe them without credentials) and so say nothing about the
federation: no hospital names, counts or PACS states, and no database error text (that goes to the log).
One hospital's PACS being down must not take the whole federation out of a load balancer anyway; per-PACS
detail is `/health/orthanc` (fhir_server.dicomweb.hospitals.orthanc_health), which, like `/metrics`, needs an
operator's token (fhir_server.observability.ops_access).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from fhir_server.observability.metrics import REGISTRY
from fhir_server.observability.ops_access import OpsAccess
from fhir_server.storage.errors import DatabaseUnavailable

router = APIRouter()
log = logging.getLogger(__name__)

# Run just before each scrape, to refresh gauges computed from the database (e.g. sync lag).
metrics_refreshers: list[Callable[[Request], None]] = []


@router.get("/health/live")
async def live() -> JSONResponse:
    return JSONResponse({"status": "pass"})


def _ping(request: Request) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        request.app.state.services.connection.ping()
        return {"status": "pass", "latency_ms": round((time.perf_counter() - start) * 1000, 2)}
    except DatabaseUnavailable:
        # The driver's text names database hosts and topology: for the log, not for anonymous callers.
        log.exception("readiness: the database did not answer a ping")
        return {"status": "fail"}


@router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    database = await run_in_threadpool(_ping, request)
    body: dict[str, Any] = {"status": database["status"], "checks": {"database": database}}
    return JSONResponse(body, status_code=200 if database["status"] == "pass" else 503)


@router.get("/metrics")
async def metrics(request: Request, _ops: OpsAccess) -> Response:
    def scrape() -> bytes:
        for refresh in metrics_refreshers:
            try:
                refresh(request)
            except Exception:  # a stale gauge must not break the scrape
                log.exception("metrics refresh failed")
        return generate_latest(REGISTRY)

    payload = await run_in_threadpool(scrape)
    return Response(payload, media_type=CONTENT_TYPE_LATEST)
