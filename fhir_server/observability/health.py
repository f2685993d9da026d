"""Health endpoints for orchestrators and the /metrics scrape endpoint.

`/health/live`: the process answers. `/health/ready`: the database answers a ping (503 otherwise); other
components (e.g. each hospital's Orthanc) report through `readiness_checks` without failing readiness,
because one hospital's PACS being down must not take the whole federation out of a load balancer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from fhir_server.observability.metrics import REGISTRY

router = APIRouter()
log = logging.getLogger(__name__)

# name -> coroutine returning a JSON-able report; registered by features (e.g. Orthanc per hospital).
ReadinessCheck = Callable[[Request], Awaitable[dict[str, Any]]]
readiness_checks: dict[str, ReadinessCheck] = {}
# Run just before each scrape, to refresh gauges computed from the database (e.g. sync lag).
metrics_refreshers: list[Callable[[Request], None]] = []


@router.get("/health/live")
async def live() -> JSONResponse:
    return JSONResponse({"status": "pass"})


def _ping(request: Request) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        request.app.state.services.connection.client.admin.command("ping")
        return {"status": "pass", "latency_ms": round((time.perf_counter() - start) * 1000, 2)}
    except PyMongoError as exc:
        return {"status": "fail", "error": str(exc)[:200]}


@router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    database = await run_in_threadpool(_ping, request)
    body: dict[str, Any] = {"status": database["status"], "checks": {"database": database}}
    for name, check in readiness_checks.items():
        try:
            body["checks"][name] = await check(request)
        except Exception as exc:  # a broken optional check is reported, not raised
            body["checks"][name] = {"status": "fail", "error": str(exc)[:200]}
    return JSONResponse(body, status_code=200 if database["status"] == "pass" else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    def scrape() -> bytes:
        for refresh in metrics_refreshers:
            try:
                refresh(request)
            except Exception:  # a stale gauge must not break the scrape
                log.exception("metrics refresh failed")
        return generate_latest(REGISTRY)

    payload = await run_in_threadpool(scrape)
    return Response(payload, media_type=CONTENT_TYPE_LATEST)
