"""The one place where HTTP meets the FHIR core: an ASGI component that answers every request under /fhir
that a row of the route table (fhir_server.rest.routes) takes. It turns the ASGI scope into a `FhirRequest`,
runs the row's handler in the thread pool (pymongo blocks) and turns the `FhirResult` into a response.

It is the innermost middleware of the application (inside authentication, the body limit, CORS, gzip and
the catch-all for bugs), so everything those decide still applies, but a FHIR request never goes through
the web framework's router, dependency injection or request objects: that was most of a cached read's
cost. Requests the table does not take go on to the application's own routes (feature routes under /fhir
such as the SMART discovery document, rows with no handler, and the framework's 404).

HTTP semantics decided here, once for every row (https://hl7.org/fhir/R4/http.html, RFC 9110):
- HEAD arrives here as GET (fhir_server.api.head answers HEAD as GET for every route, §9.3.2);
- a path the table knows with a method it does not take is 405 with `Allow` listing the methods it takes
  (§15.5.6);
- errors raised as `FhirError` become OperationOutcomes through the same mapping as everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import format_datetime
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_server.api.error_handlers import error_response
from fhir_server.api.responses import FhirJSONResponse
from fhir_server.core.context import Prefer
from fhir_server.core.negotiation import check_response_format
from fhir_server.core.request import FhirRequest, Headers
from fhir_server.core.result import FhirResult
from fhir_server.core.routing import Handler, Match, RouteTable
from fhir_server.errors import FhirError, Problem
from fhir_server.security.access.store import secured
from fhir_server.security.server_base import fhir_base
from fhir_server.storage.memory_only import NeedsDatabase, memory_only

PREFIX = "/fhir"


@dataclass(frozen=True)
class MatchedRoute:
    """What the request observer reads as `scope["route"]` (its metrics label): the row's path template."""

    path: str


class FhirRoutes:
    """ASGI middleware serving the route table's rows; `app` gets every other request."""

    def __init__(self, app: ASGIApp, table: RouteTable) -> None:
        self.app = app
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _under_prefix(scope["path"]):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path = scope["path"][len(PREFIX) :].strip("/")
        found = self.table.match(method, path)
        if found is None:
            allowed = self.table.methods_on(path)
            if allowed:
                await _method_not_allowed(method, scope["path"], allowed)(scope, receive, send)
                return
        if found is None or found.route.handler is None:
            await self.app(scope, receive, send)  # a feature's route, or the framework's 404
            return
        route = found.route
        assert route.handler is not None
        scope["route"] = MatchedRoute(PREFIX + route.http_path if route.http_path else PREFIX)
        try:
            request = await _fhir_request(scope, receive, path, found)
            result = await _run(route.handler, request, memory_first=route.memory_first)
            response = to_response(result, pretty=request.pretty)
        except FhirError as error:
            response = error_response(error)
        await response(scope, receive, send)


async def _run(handler: Handler, request: FhirRequest, *, memory_first: bool) -> FhirResult:
    """In a worker thread (pymongo blocks), unless the row says to try memory first and the request needs
    no database round trip (fhir_server.storage.memory_only)."""
    if memory_first:
        try:
            with memory_only():
                return handler(request)
        except NeedsDatabase:
            pass
    return await run_in_threadpool(handler, request)


async def _fhir_request(scope: Scope, receive: Receive, path: str, found: Match) -> FhirRequest:
    query = tuple(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    last_values = dict(query)
    headers = Headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
    check_response_format(last_values, headers.get("accept"))  # 406 before anything runs
    connection = HTTPConnection(scope)
    services = connection.app.state.services
    return FhirRequest(
        method=scope["method"],
        path=path,
        services=services,
        query=query,
        headers=headers,
        body=await _body(receive),
        # FHIR_PUBLIC_BASE_URL, else the bind address: never the request's Host header, which would otherwise
        # end up in every fullUrl, link and Location we write.
        base_url=fhir_base(services.settings),
        prefer=Prefer.parse(headers.get("prefer")),
        pretty=last_values.get("_pretty", "").lower() == "true",
        # Only routes that read FHIR data get the caller's store (and a 401 without a verified token).
        caller=secured(connection) if found.route.permission is not None else None,
        components=connection.app.state,
        audit_path=scope["path"],
    ).bound(found.route, found.params)


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _method_not_allowed(method: str, path: str, allowed: list[str]) -> Response:
    methods = sorted({*allowed, *(["HEAD"] if "GET" in allowed else [])})
    error = FhirError(
        Problem.METHOD_NOT_ALLOWED,
        f"{method} is not allowed on {path}; allowed: {', '.join(methods)}",
        headers={"Allow": ", ".join(methods)},
    )
    return error_response(error)


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


def _under_prefix(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")
