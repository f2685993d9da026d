"""FHIR REST routes under /fhir: parse the request, call one interaction, return its response.

Handlers are plain `def` so that the blocking pymongo calls run in the thread pool, never on the loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_server.access.store import secured
from fhir_server.api.negotiation import check_request_body_type
from fhir_server.api.responses import FhirJSONResponse
from fhir_server.api.services import ContextDep, ServicesDep
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions import conditional, create, delete, history, patch, read, update, vread
from fhir_server.interactions.capabilities import capability_statement

router = APIRouter(prefix="/fhir")

OptionalHeader = Annotated[str | None, Header()]


async def _body(request: Request, *, patch_body: bool = False) -> bytes:
    check_request_body_type(request.headers.get("content-type"), patch=patch_body)
    return await request.body()


@router.get("/metadata")
def metadata(services: ServicesDep, ctx: ContextDep) -> Response:
    return FhirJSONResponse(capability_statement(services.capabilities, ctx.base_url), pretty=ctx.pretty)


@router.get("/_history")
def system_history(request: Request, services: ServicesDep, ctx: ContextDep) -> Response:
    settings = services.settings
    return history.history(
        secured(request, "history-system"),
        ctx,
        dict(request.query_params),
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
    )


@router.post("/{resource_type}")
async def create_resource(
    resource_type: str,
    request: Request,
    services: ServicesDep,
    ctx: ContextDep,
    if_none_exist: OptionalHeader = None,
) -> Response:
    body = await _body(request)
    if if_none_exist is not None:
        store = secured(request, "create")
        return await run_in_threadpool(
            conditional.create_if_none_exist,
            store.search_engine(resource_type),  # the criteria are a search
            services.criteria_locks(),
            store,
            ctx,
            services.rules,
            resource_type,
            body,
            if_none_exist,
        )
    repository = secured(request, "create")
    return await run_in_threadpool(create.create, repository, ctx, services.rules, resource_type, body)


@router.put("/{resource_type}")
async def conditional_update(
    resource_type: str,
    request: Request,
    services: ServicesDep,
    ctx: ContextDep,
    if_match: OptionalHeader = None,
) -> Response:
    _type_level_only(resource_type, "PUT")
    body = await _body(request)
    store = secured(request, "update")
    return await run_in_threadpool(
        conditional.conditional_update,
        store.search_engine(resource_type),  # the criteria are a search
        services.criteria_locks(),
        store,
        ctx,
        services.rules,
        resource_type,
        request.url.query,
        body,
        if_match=if_match,
    )


@router.delete("/{resource_type}")
def conditional_delete(
    resource_type: str, request: Request, services: ServicesDep, ctx: ContextDep
) -> Response:
    _type_level_only(resource_type, "DELETE")
    store = secured(request, "delete")
    return conditional.conditional_delete(
        store.search_engine(resource_type),  # the criteria are a search
        store,
        ctx,
        resource_type,
        request.url.query,
        max_matches=services.settings.max_conditional_delete,
    )


def _type_level_only(segment: str, method: str) -> None:
    # PUT/DELETE [base]/[type] share their path with /metadata and /_history, which allow GET only.
    if not segment[:1].isupper():
        raise FhirError(Problem.METHOD_NOT_ALLOWED, f"{method} is not allowed on /fhir/{segment}")


@router.get("/{resource_type}/_history")
def type_history(resource_type: str, request: Request, services: ServicesDep, ctx: ContextDep) -> Response:
    settings = services.settings
    return history.history(
        secured(request, "history-type"),
        ctx,
        dict(request.query_params),
        resource_type=resource_type,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
    )


@router.get("/{resource_type}/{resource_id}")
def read_resource(
    resource_type: str,
    resource_id: str,
    request: Request,
    ctx: ContextDep,
    if_none_match: OptionalHeader = None,
    if_modified_since: OptionalHeader = None,
) -> Response:
    return read.read(
        secured(request, "read"),
        ctx,
        resource_type,
        resource_id,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
    )


@router.put("/{resource_type}/{resource_id}")
async def update_resource(
    resource_type: str,
    resource_id: str,
    request: Request,
    services: ServicesDep,
    ctx: ContextDep,
    if_match: OptionalHeader = None,
) -> Response:
    body = await _body(request)
    return await run_in_threadpool(
        update.update,
        secured(request, "update"),
        ctx,
        services.rules,
        resource_type,
        resource_id,
        body,
        if_match=if_match,
    )


@router.patch("/{resource_type}/{resource_id}")
async def patch_resource(
    resource_type: str,
    resource_id: str,
    request: Request,
    services: ServicesDep,
    ctx: ContextDep,
    if_match: OptionalHeader = None,
) -> Response:
    body = await _body(request, patch_body=True)
    return await run_in_threadpool(
        patch.patch,
        secured(request, "patch"),
        ctx,
        services.rules,
        resource_type,
        resource_id,
        body,
        if_match=if_match,
    )


@router.delete("/{resource_type}/{resource_id}")
def delete_resource(
    resource_type: str,
    resource_id: str,
    request: Request,
    ctx: ContextDep,
    if_match: OptionalHeader = None,
) -> Response:
    return delete.delete(secured(request, "delete"), ctx, resource_type, resource_id, if_match=if_match)


@router.get("/{resource_type}/{resource_id}/_history")
def instance_history(
    resource_type: str, resource_id: str, request: Request, services: ServicesDep, ctx: ContextDep
) -> Response:
    settings = services.settings
    return history.history(
        secured(request, "history-instance"),
        ctx,
        dict(request.query_params),
        resource_type=resource_type,
        resource_id=resource_id,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
    )


@router.get("/{resource_type}/{resource_id}/_history/{version_id}")
def vread_resource(
    resource_type: str, resource_id: str, version_id: str, request: Request, ctx: ContextDep
) -> Response:
    return vread.vread(secured(request, "vread"), ctx, resource_type, resource_id, version_id)
