"""POST [base]: batch and transaction bundles."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_server.access.store import secured
from fhir_server.api.negotiation import check_request_body_type
from fhir_server.api.services import ContextDep, ServicesDep
from fhir_server.interactions import bundle

router = APIRouter()


@router.post("/fhir")
@router.post("/fhir/")
async def batch_or_transaction(request: Request, services: ServicesDep, ctx: ContextDep) -> Response:
    check_request_body_type(request.headers.get("content-type"))
    body = await request.body()
    settings = services.settings
    return await run_in_threadpool(
        bundle.process,
        secured(request),
        ctx,
        services.rules,
        body,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
        max_entries=settings.max_bundle_entries,
        locks=services.criteria_locks(),
    )
