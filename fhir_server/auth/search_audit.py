"""AuditEvents for searches: one event per search request naming the patient data it showed.

The search engine asks `visible()` about every resource it is about to return (matches and includes);
this wraps that check, collects the patient-data resources that passed, and records one AuditEvent once
the response is built (who, what, when), like reads through the guarded repository.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from fhir_server.auth.audit import AuditRecord, Who
from fhir_server.auth.compartment import is_patient_data, patient_of
from fhir_server.auth.enforcement import access_of, visible


class SearchAudit:
    def __init__(self, request: HTTPConnection, interaction: str) -> None:
        self._request = request
        self._interaction = interaction
        self._shown: dict[str, str | None] = {}  # reference -> patient id

    def visible(self, resource_type: str, resource: dict[str, Any]) -> bool:
        allowed = visible(self._request, resource_type, resource)
        if allowed and is_patient_data(resource_type) and resource.get("id"):
            base = access_of(self._request).base_url
            self._shown[f"{resource_type}/{resource['id']}"] = patient_of(resource_type, resource, base)
        return allowed

    def record(self) -> None:
        if not self._shown:
            return
        access = access_of(self._request)
        client = self._request.client
        who = Who(
            access.subject,
            client_id=access.client_id,
            role=access.role,
            fhir_user=access.fhir_user,
            address=client.host if client else None,
        )
        self._request.app.state.auth.audit.record(
            AuditRecord(
                category="rest",
                subtype=self._interaction,
                action="E" if self._interaction == "operation" else "R",
                outcome="0",
                who=who,
                entities=tuple(self._shown),
                patients=tuple(sorted({p for p in self._shown.values() if p})),
                description=str(self._request.url.path),
            )
        )
