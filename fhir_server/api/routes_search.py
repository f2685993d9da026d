"""Search routes: GET [base]/[type], POST [base]/[type]/_search and GET [base]/Patient/[id]/$everything.

Registered after the instance routes, so `/fhir/metadata` and `/fhir/_history` keep their own handlers.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_server.api.services import ContextDep, ServicesDep
from fhir_server.auth.enforcement import compartment_search_params
from fhir_server.auth.search_audit import SearchAudit
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions import everything, search_type
from fhir_server.resource_types import require_type
from fhir_server.search.access import SearchAccess
from fhir_server.search.engine import SearchEngine

router = APIRouter(prefix="/fhir")

_FORM = "application/x-www-form-urlencoded"


async def _engine(services: ServicesDep, ctx: ContextDep) -> SearchEngine:
    return SearchEngine.configured(services.repository, services.settings, ctx.base_url)


EngineDep = Annotated[SearchEngine, Depends(_engine)]


def _access(request: Request, resource_type: str, audit: SearchAudit) -> SearchAccess:
    """403 without search access to the type; else the token's compartment and per-resource check."""
    require_type(resource_type)
    return SearchAccess(compartment_search_params(request, resource_type), audit.visible)


def _search(
    request: Request,
    services: ServicesDep,
    ctx: ContextDep,
    engine: SearchEngine,
    resource_type: str,
    pairs: list[tuple[str, str]],
) -> Response:
    settings = services.settings
    audit = SearchAudit(request, "search-type")
    response = search_type.search(
        engine,
        ctx,
        resource_type,
        pairs,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
        access=_access(request, resource_type, audit),
    )
    audit.record()
    return response


@router.get("/{resource_type}")
def search_get(
    resource_type: str, request: Request, services: ServicesDep, ctx: ContextDep, engine: EngineDep
) -> Response:
    return _search(request, services, ctx, engine, resource_type, request.query_params.multi_items())


@router.post("/{resource_type}/_search")
async def search_post(
    resource_type: str, request: Request, services: ServicesDep, ctx: ContextDep, engine: EngineDep
) -> Response:
    media = (request.headers.get("content-type") or _FORM).split(";", 1)[0].strip().lower()
    if media != _FORM:
        raise FhirError(Problem.UNSUPPORTED_MEDIA_TYPE, f"POST _search takes a {_FORM} body, not '{media}'")
    body = (await request.body()).decode("utf-8", errors="replace")
    pairs = [*request.query_params.multi_items(), *parse_qsl(body, keep_blank_values=True)]
    return await run_in_threadpool(_search, request, services, ctx, engine, resource_type, pairs)


@router.get("/Patient/{patient_id}/$everything")
def patient_everything(
    patient_id: str, request: Request, services: ServicesDep, ctx: ContextDep, engine: EngineDep
) -> Response:
    settings = services.settings
    audit = SearchAudit(request, "operation")
    response = everything.patient_everything(
        engine,
        services.repository,
        ctx,
        patient_id,
        dict(request.query_params),
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
        access=_access(request, "Patient", audit),
    )
    audit.record()
    return response
