"""The `Annotated` dependency aliases that hand `Services` (fhir_server.interactions.services) and the
request context
to FastAPI routes outside the FHIR route table."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fhir_server.api.context import RequestContext, build_context
from fhir_server.interactions.services import Services

__all__ = ["ContextDep", "Services", "ServicesDep"]


async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _context(request: Request) -> RequestContext:
    return build_context(request)


ServicesDep = Annotated[Services, Depends(_services)]
ContextDep = Annotated[RequestContext, Depends(_context)]
