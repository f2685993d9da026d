"""Who may see the operational surface that says something about the federation: `/metrics` (per-hospital
sync lag, request counts) and `/health/orthanc` (each hospital's name, PACS status, version, errors).

Both need a verified access token with the `admin` scope or a `system/` scope (an operator's CLI token, a
monitoring backend service); anything else is a 401 or 403 OperationOutcome. `/health/live` and
`/health/ready` stay public for orchestrators and say nothing about hospitals. For a private network whose
scraper cannot hold a token, `FHIR_PUBLIC_OPS_ENDPOINTS=true` opens both (documented in README.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fhir_server.security.enforcement.checks import access_of, forbidden
from fhir_server.security.enforcement.policy import AccessContext
from fhir_server.settings import Settings

SYSTEM_CONTEXT = "system"


def may_operate(access: AccessContext) -> bool:
    """Admins and backend services (any `system/` scope) run the server; patients and clinicians' apps
    do not, whatever FHIR data they may read."""
    return access.is_admin or SYSTEM_CONTEXT in access.scopes.contexts()


async def require_ops_access(request: Request) -> None:
    settings: Settings = request.app.state.services.settings
    if settings.public_ops_endpoints:
        return  # the operator's documented choice for a private network
    # The bearer middleware (fhir_server.security.enforcement.bearer) has verified the token: the one check.
    if not may_operate(access_of(request)):
        raise forbidden(
            "The operational endpoints need an access token with the admin scope or a system scope"
        )


OpsAccess = Annotated[None, Depends(require_ops_access)]
