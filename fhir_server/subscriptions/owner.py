"""Whose access a subscription acts with: its creator's, never more (as a SMART Health Link does).

The creator's access is kept as an `AccessContext` it can rebuild (never the token itself) with the
revocation generations of its user and client: events are checked against a secured store for that access
before they are recorded and again when a full resource is delivered, and a subscription whose creator's user
or client was deleted or disabled since receives nothing.
"""

from __future__ import annotations

from fhir_server.security.access.kept import KeptAccess
from fhir_server.security.enforcement.policy import AccessContext


class Owner(KeptAccess):
    """A subscription's creator (`fhir_server.security.access.kept`)."""

    @property
    def key(self) -> str:
        """Who may see and change the subscription besides administrators: the same user through the same
        client in the same context (launch patient, fhirUser): a patient app launched for one patient does
        not see what the same user subscribed to in another context."""
        a = self.access
        return "\x1f".join((a.client_id or "", a.subject, a.patient or "", a.fhir_user or ""))

    def may_manage(self, access: AccessContext) -> bool:
        return access.is_admin or Owner.of(access).key == self.key
