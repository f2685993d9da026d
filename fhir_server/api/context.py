"""Building the `RequestContext` (fhir_server.core.context) of an HTTP request."""

from __future__ import annotations

from starlette.requests import Request

from fhir_server.core.context import Prefer, RequestContext, ReturnPreference
from fhir_server.core.negotiation import check_response_format
from fhir_server.security.server_base import fhir_base

__all__ = ["Prefer", "RequestContext", "ReturnPreference", "build_context"]


def build_context(request: Request) -> RequestContext:
    """`base_url` is FHIR_PUBLIC_BASE_URL, else the bind address: never the request's Host header, which
    would otherwise end up in every fullUrl, link and Location we write."""
    query = request.query_params
    check_response_format(query, request.headers.get("accept"))
    return RequestContext(
        base_url=fhir_base(request.app.state.services.settings),
        prefer=Prefer.parse(request.headers.get("prefer")),
        pretty=query.get("_pretty", "").lower() == "true",
    )
