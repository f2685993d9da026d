"""Routes for terminology resources and operations, and $validate on every stored type.

Registered before the generic instance routes so that `…/$expand` is not taken for a resource id.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from fhir_server.api.negotiation import check_request_body_type
from fhir_server.api.services import ContextDep, ServicesDep
from fhir_server.auth.enforcement import require_write
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions import terminology_operations as ops
from fhir_server.interactions import validate
from fhir_server.validation import parse_json

router = APIRouter(prefix="/fhir")


async def _parameters(request: Request) -> object:
    if request.method == "GET":
        return request.query_params
    check_request_body_type(request.headers.get("content-type"))
    return parse_json(await request.body())


def _read_only(resource_type: str) -> None:
    raise FhirError(
        Problem.METHOD_NOT_ALLOWED,
        f"{resource_type} resources are read-only here: they ship with the server's terminology",
    )


def _add_terminology_routes(resource_type: str) -> None:
    async def type_operation(name: str, request: Request, services: ServicesDep, ctx: ContextDep) -> Response:
        return ops.operation(services.terminology, ctx, resource_type, name, await _parameters(request))

    async def instance_operation(
        resource_id: str, name: str, request: Request, services: ServicesDep, ctx: ContextDep
    ) -> Response:
        params = await _parameters(request)
        return ops.operation(services.terminology, ctx, resource_type, name, params, resource_id)

    async def read(resource_id: str, services: ServicesDep, ctx: ContextDep) -> Response:
        return ops.read(services.terminology, ctx, resource_type, resource_id)

    async def search(request: Request, services: ServicesDep, ctx: ContextDep) -> Response:
        return ops.search(services.terminology, ctx, resource_type, dict(request.query_params))

    async def write(request: Request) -> Response:
        _read_only(resource_type)
        raise AssertionError  # unreachable

    base = f"/{resource_type}"
    router.add_api_route(base + "/${name}", type_operation, methods=["GET", "POST"])
    router.add_api_route(base + "/{resource_id}/${name}", instance_operation, methods=["GET", "POST"])
    router.add_api_route(base, search, methods=["GET"])
    router.add_api_route(base, write, methods=["POST"])
    router.add_api_route(base + "/{resource_id}", read, methods=["GET"])
    router.add_api_route(base + "/{resource_id}", write, methods=["PUT", "PATCH", "DELETE"])


for _type in ops.READ_ONLY_TYPES:
    _add_terminology_routes(_type)


@router.post("/{resource_type}/$validate")
async def validate_type(
    resource_type: str, request: Request, services: ServicesDep, ctx: ContextDep
) -> Response:
    check_request_body_type(request.headers.get("content-type"))
    require_write(request, resource_type)
    return validate.validate(ctx, services.rules, resource_type, await request.body())


@router.post("/{resource_type}/{resource_id}/$validate")
async def validate_instance(
    resource_type: str, resource_id: str, request: Request, services: ServicesDep, ctx: ContextDep
) -> Response:
    check_request_body_type(request.headers.get("content-type"))
    require_write(request, resource_type)
    return validate.validate(ctx, services.rules, resource_type, await request.body(), resource_id)
