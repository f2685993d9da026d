"""The verified caller of a request, and the 403 that every scope refusal shares.

`BearerAuthentication` (fhir_server.security.enforcement.bearer) is the one bearer check: it verifies the
token of every
protected route and puts the caller's `AccessContext` on `request.state.access`. `access_of` hands it out
(401 when there is none: a route that was not authenticated gets no data). What the caller may see and do
is decided by the secured store (fhir_server.security.access.store), never here; `require_write` is the one
type-level check of an operation that touches no stored data ($validate).
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from fhir_server.errors import FhirError, Problem
from fhir_server.security.enforcement import policy
from fhir_server.security.enforcement.policy import AccessContext

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


def require_write(request: HTTPConnection, resource_type: str) -> AccessContext:
    """$validate checks a resource before it is written: it needs create or update on the type."""
    access = access_of(request)
    if not (
        policy.decide(access, "create", resource_type, None)
        or policy.decide(access, "update", resource_type, None)
    ):
        raise forbidden(f"$validate needs create or update access to {resource_type}")
    return access
