"""Health endpoints for orchestrators and the /metrics scrape endpoint.

`/health/live`: the process answers. `/health/ready`: the database answers a ping (503 otherwise); other
components (e.g. each hospital's Orthanc) report through `readiness_checks` without failing readiness,
because one hospital's PACS being down must not take the whole federation out of a load balancer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from fhir_server.observability.metrics import REGISTRY

router = APIRouter()

# name -> function returning a JSON-able report; registered by features (e.g. Orthanc per hospital).
ReadinessCheck = Callable[[Request], dict[str, Any]]
readiness_checks: dict[str, ReadinessCheck] = {}


@router.get("/health/live")
async def live() -> JSONResponse:
    return JSONResponse({"status": "pass"})


@router.get("/health/ready")
def ready(request: Request) -> JSONResponse:
    services = request.app.state.services
    start = time.perf_counter()
    try:
        services.connection.client.admin.command("ping")
        database: dict[str, Any] = {
            "status": "pass",
            "latency_ms": round((time.perf_counter() - start) * 1000, 2),
        }
    except PyMongoError as exc:
        database = {"status": "fail", "error": str(exc)[:200]}
    body: dict[str, Any] = {"status": database["status"], "checks": {"database": database}}
    for name, check in readiness_checks.items():
        try:
            body["checks"][name] = check(request)
        except Exception as exc:  # a broken optional check is reported, not raised
            body["checks"][name] = {"status": "fail", "error": str(exc)[:200]}
    return JSONResponse(body, status_code=200 if database["status"] == "pass" else 503)


@router.get("/metrics")
async def metrics() -> Response:
    payload = await run_in_threadpool(generate_latest, REGISTRY)
    return Response(payload, media_type=CONTENT_TYPE_LATEST)
