"""`GET [base]/AuditEvent/{id}` and `GET [base]/AuditEvent?…` for admin tokens (see audit_search for the
parameters: FHIR search over the audit log). AuditEvents are written by the server only: no create, update
or delete."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from fhir_server.api.responses import FhirJSONResponse
from fhir_server.api.services import ContextDep, ServicesDep
from fhir_server.auth.audit_search import search_bundle
from fhir_server.auth.enforcement import access_of, forbidden
from fhir_server.auth.routes_oauth import components
from fhir_server.errors import FhirError, Problem
from fhir_server.search.engine import SearchLimits

router = APIRouter(prefix="/fhir")


def _require_admin(request: Request) -> None:
    if not access_of(request).is_admin:
        raise forbidden("AuditEvents are available to administrators only (admin scope)")


@router.get("/AuditEvent")
def search_audit_events(request: Request, services: ServicesDep, ctx: ContextDep) -> Response:
    _require_admin(request)
    audit = components(request).audit
    audit.flush()
    settings = services.settings
    bundle = search_bundle(
        audit,
        ctx,
        list(request.query_params.multi_items()),
        is_admin=access_of(request).is_admin,
        limits=SearchLimits.of(settings),
        # References in a query may name this server absolutely; events store them relative.
        own_bases=tuple(b for b in (ctx.base_url, settings.public_base_url or "") if b),
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
    )
    return FhirJSONResponse(bundle, pretty=ctx.pretty)


@router.get("/AuditEvent/{event_id}")
def read_audit_event(request: Request, event_id: str, ctx: ContextDep) -> Response:
    _require_admin(request)
    audit = components(request).audit
    audit.flush()
    doc = audit.collection.find_one({"_id": event_id}, {"res": 1})
    if doc is None:
        raise FhirError(Problem.NOT_FOUND, f"AuditEvent/{event_id[:64]} does not exist")
    return FhirJSONResponse(doc["res"], pretty=ctx.pretty)


@router.api_route("/AuditEvent", methods=["POST", "PUT", "PATCH", "DELETE"])
@router.api_route("/AuditEvent/{event_id}", methods=["POST", "PUT", "PATCH", "DELETE"])
def write_audit_event(request: Request) -> Response:
    raise FhirError(Problem.METHOD_NOT_ALLOWED, "AuditEvents are written by the server only")
