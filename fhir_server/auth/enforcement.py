"""Scope enforcement for the resource server: the API that routes, search and DICOMweb call.

`BearerAuthentication` (fhir_server.auth.middleware) has already verified the token of every /fhir and
/dicomweb request and put the caller's `AccessContext` on `request.state.access`. From there:

- `require(request, action, resource_type)` — 403 unless some scope grants `action` on the type at all
  (type-level check; compartment and filters are applied per resource or by `compartment_filter`).
- `compartment_filter(request, resource_type)` — for a search of `resource_type`: None when unrestricted,
  else `("Patient", id)`: the search must be confined to that patient's compartment.
- `compartment_search_params(request, resource_type)` — the same as search criteria to AND into the query.
- `confine_criteria(request, resource_type, query)` — for conditional create/update/delete.
- `visible(request, resource_type, resource)` — may the caller see this resource (search results,
  _include/_revinclude, $everything): compartment, filters and read permission checked on the resource.
- `SmartAuthorizer` — the `fhir_server.authz.Authorizer` implementation, for code that asks per resource.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import HTTPConnection, Request

from fhir_server.auth import policy
from fhir_server.auth.compartment import compartment_criteria
from fhir_server.auth.policy import AccessContext
from fhir_server.authz import Action
from fhir_server.errors import FhirError, Problem

STATE_KEY = "access"


def access_of(request: HTTPConnection) -> AccessContext:
    access = getattr(request.state, STATE_KEY, None)
    if not isinstance(access, AccessContext):
        # Only reachable for a route outside the authenticated prefixes: refuse rather than allow.
        raise FhirError(
            Problem.UNAUTHORIZED,
            "This request carries no verified access token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return access


def forbidden(message: str) -> FhirError:
    return FhirError(
        Problem.FORBIDDEN,
        message,
        headers={
            "WWW-Authenticate": f'Bearer error="insufficient_scope", error_description="{message[:200]}"'
        },
    )


def require(request: HTTPConnection, action: Action, resource_type: str) -> AccessContext:
    access = access_of(request)
    if not policy.decide(access, action, resource_type, None):
        raise forbidden(f"The access token's scopes do not allow {action} on {resource_type}")
    return access


def require_write(request: HTTPConnection, resource_type: str) -> AccessContext:
    """$validate checks a resource before it is written: it needs create or update on the type."""
    access = access_of(request)
    if not (
        policy.decide(access, "create", resource_type, None)
        or policy.decide(access, "update", resource_type, None)
    ):
        raise forbidden(f"$validate needs create or update access to {resource_type}")
    return access


def compartment_filter(request: HTTPConnection, resource_type: str | None = None) -> tuple[str, str] | None:
    """The compartment a search must stay in. Without `resource_type`: the token's patient compartment if
    the token is confined at all (conservative, for callers that search several types)."""
    access = access_of(request)
    if resource_type is None:
        confined = {access.confinement(s) for s in access.scopes.resource if s.permissions & {"s"}}
        patients = [p for p in confined if isinstance(p, str)]
        if access.unrestricted or None in confined or not patients:
            return None
        return ("Patient", patients[0])
    require(request, "search", resource_type)
    confinement = policy.search_confinement(access, resource_type)
    if isinstance(confinement, str):
        return ("Patient", confinement)
    return None


def compartment_search_params(request: HTTPConnection, resource_type: str) -> list[tuple[str, str]]:
    """`compartment_filter` as search criteria to AND into the query: `[("_id", P)]` for Patient,
    `[("patient", "Patient/P")]` for ImagingStudy, `[]` when the search is not confined."""
    compartment = compartment_filter(request, resource_type)
    return compartment_criteria(resource_type, compartment[1]) if compartment else []


def confine_criteria(request: HTTPConnection, resource_type: str, query: str) -> str:
    """The criteria of a conditional create/update/delete, which search first: they need `s` on the type
    and, for a compartment-confined token, only ever match inside its compartment."""
    extra = compartment_search_params(request, resource_type)
    if not extra:
        return query
    return query + ("&" if query else "") + urlencode(extra)


def visible(request: HTTPConnection, resource_type: str, resource: dict[str, Any]) -> bool:
    return policy.decide(access_of(request), "read", resource_type, resource)


class SmartAuthorizer:
    """`fhir_server.authz.Authorizer` over the request's verified token."""

    def allows(
        self, request: Request, action: Action, resource_type: str, resource: dict[str, Any] | None
    ) -> bool:
        access = getattr(request.state, STATE_KEY, None)
        return isinstance(access, AccessContext) and policy.decide(access, action, resource_type, resource)
