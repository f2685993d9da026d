"""Whose access a link acts with: its creator's, never more.

A link stores the creator's access as an `AccessContext` it can rebuild (scopes, launch patient, fhirUser,
role, client, base URL — never the token itself, which expires and must not be replayable from a database
dump) and the revocation generations of the creator's user and client as their token carried them
(`fhir_server.security.oauth.revocation`). Every file of the link is built with a SecuredStore for that
access, so a
link shows the intersection of what its creator could read and what the link names; and when the creator's
user or client is deleted or disabled (its generation moves on) the link stops granting anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import HTTPConnection

from fhir_server.security.enforcement.checks import access_of
from fhir_server.security.enforcement.policy import ROLES, AccessContext
from fhir_server.security.enforcement.scopes import ScopeSet
from fhir_server.security.oauth.revocation import Generations, Revocations


@dataclass(frozen=True)
class Creator:
    access: AccessContext
    generations: Generations

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

    @property
    def key(self) -> str:
        """Equal for two requests with the same access (a link made by one may be handed to the other)."""
        doc = self.to_doc()
        return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()

    @classmethod
    def from_doc(cls, doc: Any) -> Creator | None:
        """None for a link stored without its creator's access (made before links kept it): such a link
        cannot be shown to stay within its creator's access, so it grants nothing."""
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
        """Has the creator's user or client been deleted or disabled since the link was made?"""
        return revocations.outdated(self.generations, self.access.subject, self.access.client_id)


def creator_of(request: HTTPConnection) -> Creator:
    """The verified caller of this request as a link's creator."""
    access = access_of(request)
    return Creator(access, Generations(access.user_generation, access.client_generation))
