"""The access log of a link: one AuditEvent (fhir_server.audit.log) per manifest, file or U-flag fetch,
with the `recipient` the receiver declared (SHL IG STU1 §manifest request: "recipient") and its address.
The link is an entity `urn:shl:{management id}` of the event, so its log is one indexed lookup
(`AuditLog.events_about`, through the document store)."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from fhir_server.audit.log import AuditLog, AuditRecord, Outcome, Who
from fhir_server.shl.store import Link


def entity(link_id: str) -> str:
    return f"urn:shl:{link_id}"


def audit_of(request: HTTPConnection) -> AuditLog:
    audit: AuditLog = request.app.state.auth.audit
    return audit


def record_access(request: HTTPConnection, link: Link, recipient: str, outcome: Outcome, what: str) -> None:
    address = request.client.host if request.client else None
    audit_of(request).record(
        AuditRecord(
            category="rest",
            subtype="read",
            action="R",
            outcome=outcome,
            # No role: the receiver is an application agent named by its declared recipient.
            who=Who(recipient[:200] or "(no recipient)", address=address),
            entities=(entity(link.id),),
            patients=(link.patient,),
            description=f"SMART Health Link {link.id}: {what} for recipient {recipient[:200]!r}",
        )
    )


def events(audit: AuditLog, link_id: str) -> list[dict[str, Any]]:
    audit.flush()
    return audit.events_about(entity(link_id), limit=1000)
