"""Who is calling (`AccessContext`, from a verified access token) and what they may do (`decide`).

Every scope is judged on its own and access is allowed when one scope allows it (App Launch 2.2
§scopes-for-requesting-fhir-resources):
- `system/` scopes (backend services, CLI tokens): no compartment restriction;
- `user/` scopes: whatever the user may see — everything for clinicians and admins, their own compartment
  for a user whose fhirUser is a Patient;
- `patient/` scopes: only the launch-context patient's compartment, and without a patient context nothing.
  Organization and Endpoint are outside every compartment: readable and searchable, never writable.
- `?param=value` filters must match the resource as the search would (see `scope_filters`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fhir_server.security.enforcement.compartment import is_patient_data, patient_of
from fhir_server.security.enforcement.scope_filters import matches_filters
from fhir_server.security.enforcement.scopes import ADMIN, ResourceScope, ScopeSet

# What a caller asks to do with a resource; each maps to one SMART permission letter (LETTERS).
Action = Literal["read", "search", "create", "update", "delete"]
Role = Literal["admin", "clinician", "patient"]
ROLES: tuple[Role, ...] = ("admin", "clinician", "patient")

LETTERS: dict[Action, str] = {"read": "r", "search": "s", "create": "c", "update": "u", "delete": "d"}
_READ_LETTERS = frozenset("rs")


@dataclass(frozen=True)
class AccessContext:
    subject: str  # user name, client id, or "cli"
    scopes: ScopeSet
    base_url: str  # the FHIR base the token was issued for
    client_id: str | None = None
    patient: str | None = None  # launch context
    fhir_user: str | None = None  # e.g. "Patient/123", relative to base_url
    role: Role | None = None  # None: a backend service (client_credentials)
    token_id: str | None = None
    expires_at: int | None = None
    unrestricted: bool = False  # anonymous access in development mode
    # Revocation generations of the token's user and client when it was minted
    # (fhir_server.security.oauth.revocation):
    # whatever acts later on this access's behalf (a SMART Health Link) can tell when it was revoked.
    user_generation: int = 0
    client_generation: int = 0

    @property
    def is_admin(self) -> bool:
        return self.unrestricted or self.scopes.has(ADMIN)

    @property
    def user_patient(self) -> str | None:
        """The Patient a user-level login is confined to (a patient logged in as themselves)."""
        if self.fhir_user and self.fhir_user.startswith("Patient/"):
            return self.fhir_user.split("/", 1)[1]
        return None

    def confinement(self, scope: ResourceScope) -> str | Literal[False] | None:
        """The patient `scope` is confined to; None for no confinement; False when it grants nothing."""
        if scope.context == "system":
            return None
        if scope.context == "user":
            if self.role == "patient":
                return self.user_patient or False  # a patient account without its Patient sees nothing
            return self.user_patient
        return self.patient if self.patient else False


def anonymous_development(base_url: str) -> AccessContext:
    return AccessContext(subject="anonymous", scopes=ScopeSet.parse(""), base_url=base_url, unrestricted=True)


def decide(
    access: AccessContext, action: Action, resource_type: str, resource: dict[str, Any] | None
) -> bool:
    """May `access` do `action` on `resource`? (None: on the type as a whole; confinement is then left to
    the caller.)"""
    if access.unrestricted:
        return True
    letter = LETTERS[action]
    return any(
        _scope_allows(access, scope, letter, resource_type, resource)
        for scope in access.scopes.resource
        if scope.grants(letter, resource_type)
    )


def search_confinement(access: AccessContext, resource_type: str) -> str | Literal[False] | None:
    """For a search (or type history) of `resource_type`: None if some scope grants it without restriction,
    else the patient id it is confined to, else False (nothing grants it)."""
    if access.unrestricted:
        return None
    confined: str | Literal[False] | None = False
    for scope in access.scopes.resource:
        if not scope.grants("s", resource_type):
            continue
        patient = access.confinement(scope)
        if patient is False:
            continue
        if patient is None or not is_patient_data(resource_type):
            if not scope.filters:
                return None
            continue
        confined = patient if confined is False else confined
    return confined


def _scope_allows(
    access: AccessContext,
    scope: ResourceScope,
    letter: str,
    resource_type: str,
    resource: dict[str, Any] | None,
) -> bool:
    patient = access.confinement(scope)
    if patient is False:
        return False
    if patient is not None and not is_patient_data(resource_type) and letter not in _READ_LETTERS:
        return False  # a patient may look up hospitals and endpoints, never change them
    if resource is None:
        return True
    if (
        patient is not None
        and is_patient_data(resource_type)
        and patient_of(resource_type, resource, access.base_url) != patient
    ):
        return False
    return matches_filters(resource_type, resource, scope.filters, access.base_url)


def unconfined(access: AccessContext, action: Action, resource_type: str) -> bool:
    """Does some scope grant `action` on every resource of the type (no compartment, no filter)?"""
    if access.unrestricted:
        return True
    letter = LETTERS[action]
    for scope in access.scopes.resource:
        if not scope.grants(letter, resource_type) or scope.filters:
            continue
        patient = access.confinement(scope)
        if patient is None:
            return True
        if patient is not False and not is_patient_data(resource_type) and letter in _READ_LETTERS:
            return True
    return False
