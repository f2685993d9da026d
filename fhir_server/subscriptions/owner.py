"""Whose access a subscription acts with: its creator's, never more (as a SMART Health Link does).

The creator's access is kept as an `AccessContext` it can rebuild (never the token itself) with the
revocation generations of its user and client: events are checked against a secured store for that access
before they are recorded and again when a full resource is delivered, and a subscription whose creator's user
or client was deleted or disabled since receives nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.security.enforcement.policy import ROLES, AccessContext
from fhir_server.security.enforcement.scopes import ScopeSet
from fhir_server.security.oauth.revocation import Generations, Revocations


@dataclass(frozen=True)
class Owner:
    access: AccessContext
    generations: Generations

    @classmethod
    def of(cls, access: AccessContext) -> Owner:
        return cls(access, Generations(access.user_generation, access.client_generation))

    @property
    def key(self) -> str:
        """Who may see and change the subscription besides administrators: the same user through the same
        client in the same context (launch patient, fhirUser): a patient app launched for one patient does
        not see what the same user subscribed to in another context."""
        a = self.access
        return "\x1f".join((a.client_id or "", a.subject, a.patient or "", a.fhir_user or ""))

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
    def from_doc(cls, doc: Any) -> Owner | None:
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
        return revocations.outdated(self.generations, self.access.subject, self.access.client_id)

    def may_manage(self, access: AccessContext) -> bool:
        return access.is_admin or Owner.of(access).key == self.key
