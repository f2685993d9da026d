"""FHIR REST routes under /fhir: parse the request, call one interaction, return its response.

Handlers are plain `def` so that the blocking pymongo calls run in the thread pool, never on the loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.responses import Response

from fhir_server.api.negotiation import check_request_body_type
from fhir_server.api.responses import FhirJSONResponse
from fhir_server.api.services import ContextDep, RepositoryDep, ServicesDep
from fhir_server.interactions import create, delete, history, patch, read, update, vread
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
        services.repository,
        ctx,
        dict(request.query_params),
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
    )


@router.post("/{resource_type}")
async def create_resource(
    resource_type: str, request: Request, services: ServicesDep, ctx: ContextDep
) -> Response:
    body = await _body(request)
    return await _in_thread(create.create, services.repository, ctx, services.rules, resource_type, body)


@router.get("/{resource_type}/_history")
def type_history(resource_type: str, request: Request, services: ServicesDep, ctx: ContextDep) -> Response:
    settings = services.settings
    return history.history(
        services.repository,
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
    repository: RepositoryDep,
    ctx: ContextDep,
    if_none_match: OptionalHeader = None,
    if_modified_since: OptionalHeader = None,
) -> Response:
    return read.read(
        repository,
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
    return await _in_thread(
        update.update,
        services.repository,
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
    return await _in_thread(
        patch.patch,
        services.repository,
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
    repository: RepositoryDep,
    ctx: ContextDep,
    if_match: OptionalHeader = None,
) -> Response:
    return delete.delete(repository, ctx, resource_type, resource_id, if_match=if_match)


@router.get("/{resource_type}/{resource_id}/_history")
def instance_history(
    resource_type: str, resource_id: str, request: Request, services: ServicesDep, ctx: ContextDep
) -> Response:
    settings = services.settings
    return history.history(
        services.repository,
        ctx,
        dict(request.query_params),
        resource_type=resource_type,
        resource_id=resource_id,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
    )


@router.get("/{resource_type}/{resource_id}/_history/{version_id}")
def vread_resource(
    resource_type: str, resource_id: str, version_id: str, repository: RepositoryDep, ctx: ContextDep
) -> Response:
    return vread.vread(repository, ctx, resource_type, resource_id, version_id)


async def _in_thread(func, *args, **kwargs):  # type: ignore[no-untyped-def]
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(func, *args, **kwargs)
