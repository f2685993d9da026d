"""Every error leaves the server as an OperationOutcome; nothing else ever reaches the client."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fhir_server.api.middleware import TrackedSend
from fhir_server.api.responses import FhirJSONResponse
from fhir_server.errors import FhirError, Problem

log = logging.getLogger(__name__)

_BY_STATUS = {p.status: p for p in Problem}


def error_response(error: FhirError) -> Response:
    """The one mapping of a `FhirError` to HTTP: its OperationOutcome, status and headers."""
    return FhirJSONResponse(error.outcome(), error.status, dict(error.headers))


def _internal_error() -> Response:
    error = FhirError(Problem.INTERNAL, "Internal server error; the request was not applied")
    return FhirJSONResponse(error.outcome(), 500)


class UnexpectedErrors:
    """A bug answers 500 from inside the middleware stack, and the exception goes no further.

    Starlette's own handler for `Exception` sits outside every middleware and re-raises after answering, on
    which uvicorn closes the connection: the client's next request on that keep-alive connection fails, and
    the 500 had no request id and no Cache-Control. Installed innermost (by `install`), so the answer passes
    through all of them. Only an exception after the response has started still reaches uvicorn.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception:
            if tracked.started:
                raise
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            await _internal_error()(scope, receive, send)


def install(app: FastAPI) -> None:
    """The handlers, and `UnexpectedErrors` inside every other middleware: call before adding any other
    but the FHIR route table's (`fhir_server.rest.http_adapter.FhirRoutes`), whose bugs it catches too."""
    app.add_middleware(UnexpectedErrors)

    @app.exception_handler(FhirError)
    async def fhir_error(request: Request, exc: FhirError) -> Response:
        return error_response(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            error = FhirError(Problem.NOT_FOUND, f"No route for {request.method} {request.url.path}")
        elif exc.status_code == 405:
            error = FhirError(
                Problem.METHOD_NOT_ALLOWED,
                f"{request.method} is not allowed on {request.url.path}",
                headers=dict(exc.headers or {}),
            )
        else:
            error = FhirError(_BY_STATUS.get(exc.status_code, Problem.INVALID), str(exc.detail))
        headers = {**(exc.headers or {}), **dict(error.headers)}
        return FhirJSONResponse(error.outcome(), exc.status_code, headers)

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        error = FhirError(Problem.INVALID, f"Invalid request {where}: {first.get('msg', 'invalid')}", [where])
        return FhirJSONResponse(error.outcome(), 400)

    # Last resort, for a failure in a middleware outside `UnexpectedErrors`: this answer passes through no
    # middleware (hence no-store set here), and uvicorn closes the connection after it.
    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        response = _internal_error()
        response.headers["Cache-Control"] = "no-store"
        return response
