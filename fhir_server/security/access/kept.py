"""A caller's access kept in the database, for what acts later on their behalf (a SMART Health Link, a
subscription): an `AccessContext` that can be rebuilt (scopes, launch patient, fhirUser, role, client, base
URL — never the token itself, which expires and must not be replayable from a database dump) with the
revocation generations of the caller's user and client as their token carried them
(`fhir_server.security.oauth.revocation`). Whatever acts with it gets a secured store for that access, never
more; once the user or client is deleted or disabled (its generation moves on) it grants nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from fhir_server.security.enforcement.policy import ROLES, AccessContext
from fhir_server.security.enforcement.scopes import ScopeSet
from fhir_server.security.oauth.revocation import Generations, Revocations


@dataclass(frozen=True)
class KeptAccess:
    access: AccessContext
    generations: Generations

    @classmethod
    def of(cls, access: AccessContext) -> Self:
        return cls(access, Generations(access.user_generation, access.client_generation))

    def to_doc(self) -> dict[str, Any]:
        access = self.access
        return {
            "subject": access.subject,
            "scopes": access.scopes.text,
            "base_url": access.base_url,
            "client_id": access.client_id,
            "patient": access.patient,
            "fhir_user": access.fhir_user,
            "role": access.role,
            "unrestricted": access.unrestricted,
            "generations": self.generations.to_doc(),
        }

    @classmethod
    def from_doc(cls, doc: Any) -> Self | None:
        """None for a document without a kept access (stored before it was kept): it grants nothing."""
        if not isinstance(doc, dict) or not isinstance(doc.get("subject"), str):
            return None
        role = doc.get("role")
        access = AccessContext(
            subject=doc["subject"],
            scopes=ScopeSet.parse(doc.get("scopes") if isinstance(doc.get("scopes"), str) else ""),
            base_url=str(doc.get("base_url", "")),
            client_id=doc.get("client_id"),
            patient=doc.get("patient"),
            fhir_user=doc.get("fhir_user"),
            role=role if role in ROLES else None,
            unrestricted=doc.get("unrestricted") is True,
        )
        return cls(access, Generations.from_doc(doc.get("generations")))

    def revoked(self, revocations: Revocations) -> bool:
        """Has the user or client been deleted or disabled since the access was kept?"""
        return revocations.outdated(self.generations, self.access.subject, self.access.client_id)
