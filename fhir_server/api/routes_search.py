"""Search routes: GET [base]/[type], POST [base]/[type]/_search and GET [base]/Patient/[id]/$everything.

Registered after the instance routes, so `/fhir/metadata` and `/fhir/_history` keep their own handlers.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_server.access.store import secured
from fhir_server.api.services import ContextDep, ServicesDep
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions import everything, search_type
from fhir_server.resource_types import require_type

router = APIRouter(prefix="/fhir")

_FORM = "application/x-www-form-urlencoded"


def _search(
    request: Request,
    services: ServicesDep,
    ctx: ContextDep,
    resource_type: str,
    pairs: list[tuple[str, str]],
) -> Response:
    settings = services.settings
    require_type(resource_type)
    store = secured(request, "search")
    engine = store.search_engine(resource_type)
    shown = store.showing()
    response = search_type.search(
        engine,
        ctx,
        resource_type,
        pairs,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
        visible=shown.visible,
    )
    shown.record(str(request.url.path))
    return response


@router.get("/{resource_type}")
def search_get(resource_type: str, request: Request, services: ServicesDep, ctx: ContextDep) -> Response:
    return _search(request, services, ctx, resource_type, request.query_params.multi_items())


@router.post("/{resource_type}/_search")
async def search_post(
    resource_type: str, request: Request, services: ServicesDep, ctx: ContextDep
) -> Response:
    media = (request.headers.get("content-type") or _FORM).split(";", 1)[0].strip().lower()
    if media != _FORM:
        raise FhirError(Problem.UNSUPPORTED_MEDIA_TYPE, f"POST _search takes a {_FORM} body, not '{media}'")
    body = (await request.body()).decode("utf-8", errors="replace")
    pairs = [*request.query_params.multi_items(), *parse_qsl(body, keep_blank_values=True)]
    return await run_in_threadpool(_search, request, services, ctx, resource_type, pairs)


@router.get("/Patient/{patient_id}/$everything")
def patient_everything(patient_id: str, request: Request, services: ServicesDep, ctx: ContextDep) -> Response:
    settings = services.settings
    store = secured(request, "operation")
    engine = store.search_engine("Patient")
    shown = store.showing()
    response = everything.patient_everything(
        engine,
        store,
        ctx,
        patient_id,
        dict(request.query_params),
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
        visible=shown.visible,
    )
    shown.record(str(request.url.path))
    return response
