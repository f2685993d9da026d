"""AuditEvent, the server's own record of every access (https://hl7.org/fhir/R4/auditevent.html): read and
search for administrators (the secured store decides: `SecuredStore.audit_log`), never written through the
API. Search is FHIR search over the audit log (fhir_server.audit.search); these are rows of the route
table."""

from __future__ import annotations

from fhir_server.audit.search import search_bundle
from fhir_server.core.request import FhirRequest
from fhir_server.core.result import FhirResult
from fhir_server.errors import FhirError, Problem
from fhir_server.search.engine import SearchLimits

RESOURCE_TYPE = "AuditEvent"


def search(req: FhirRequest) -> FhirResult:
    audit = req.store.audit_log()
    settings = req.services.settings
    bundle = search_bundle(
        audit,
        req.context,
        list(req.query),
        is_admin=True,  # audit_log() admits administrators only
        limits=SearchLimits.of(settings),
        # References in a query may name this server absolutely; events store them relative.
        own_bases=tuple(b for b in (req.base_url, settings.public_base_url or "") if b),
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
    )
    return FhirResult(resource=bundle)


def read(req: FhirRequest) -> FhirResult:
    event = req.store.audit_log().read(req.id)
    if event is None:
        raise FhirError(Problem.NOT_FOUND, f"AuditEvent/{req.id[:64]} does not exist")
    return FhirResult(resource=event)


def write(req: FhirRequest) -> FhirResult:
    raise FhirError(Problem.METHOD_NOT_ALLOWED, "AuditEvents are written by the server only")
