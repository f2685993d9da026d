"""The one place where HTTP meets the FHIR core: every row of the route table (fhir_server.rest.routes)
becomes a FastAPI route under /fhir, whose endpoint turns the Starlette request into a `FhirRequest`, runs
the row's handler in the thread pool (pymongo blocks) and turns the `FhirResult` into a response.

Rows are registered most specific first, so Starlette's first match is the table's match; the endpoint still
asks the table, which is authoritative. Rows with no handler are served by their feature's own routes.
Errors raised as `FhirError` become OperationOutcomes in fhir_server.api.error_handlers, as everywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.utils import format_datetime

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.context import build_context
from fhir_server.api.responses import FhirJSONResponse
from fhir_server.core.request import FhirRequest, Headers
from fhir_server.core.result import FhirResult
from fhir_server.core.routing import RouteTable
from fhir_server.errors import FhirError, Problem
from fhir_server.security.access.store import secured

PREFIX = "/fhir"

Endpoint = Callable[[Request], Awaitable[Response]]


def register(app: FastAPI, table: RouteTable) -> None:
    for route in table.in_precedence_order():
        if route.handler is None:
            continue  # served by route.served_by
        # [base] itself is reachable with and without its trailing slash.
        paths = [PREFIX + route.http_path] if route.http_path else [PREFIX, PREFIX + "/"]
        for path in paths:
            app.add_api_route(
                path,
                _endpoint(table),
                methods=[route.method],
                name=f"{route.interaction} {route.method} {route.pattern}",
                tags=["FHIR"],
            )


def _endpoint(table: RouteTable) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        fhir_request = await to_fhir_request(request, table)
        assert fhir_request.route is not None and fhir_request.route.handler is not None
        result = await run_in_threadpool(fhir_request.route.handler, fhir_request)
        return to_response(result, pretty=fhir_request.pretty)

    return endpoint


async def to_fhir_request(request: Request, table: RouteTable) -> FhirRequest:
    path = request.url.path.removeprefix(PREFIX).strip("/")
    found = table.match(request.method, path)
    if found is None or found.route.handler is None:  # a registered path the table gives elsewhere
        raise FhirError(Problem.NOT_FOUND, f"No route for {request.method} {request.url.path}")
    ctx = build_context(request)  # 406 for a format other than JSON, before anything runs
    unbound = FhirRequest(
        method=request.method,
        path=path,
        services=request.app.state.services,
        query=tuple(request.query_params.multi_items()),
        headers=Headers(request.headers.items()),
        body=await request.body(),
        base_url=ctx.base_url,
        prefer=ctx.prefer,
        pretty=ctx.pretty,
        # Only routes that read FHIR data get the caller's store (and a 401 without a verified token).
        caller=secured(request) if found.route.permission is not None else None,
        components=request.app.state,
        audit_path=str(request.url.path),
    )
    return table.resolve(unbound)


def to_response(result: FhirResult, *, pretty: bool = False) -> Response:
    headers = dict(result.headers)
    if result.last_modified is not None:
        headers["Last-Modified"] = format_datetime(result.last_modified, usegmt=True)
    if not pretty and (serialized := result.serialized_body) is not None:
        return FhirJSONResponse.serialized(serialized, result.status, headers)  # the stored bytes as they are
    body = result.body
    if body is None:
        return Response(status_code=result.status, headers=headers)
    return FhirJSONResponse(body, result.status, headers, pretty)
