"""The long-lived objects a request needs, and the `Annotated` dependency aliases that hand them out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from fhir_server.api.context import RequestContext, build_context
from fhir_server.authz import AllowAll, Authorizer
from fhir_server.db import DatabaseConnection
from fhir_server.interactions.bundle import FindIds
from fhir_server.interactions.capabilities import Capabilities
from fhir_server.interactions.common import WriteRules
from fhir_server.settings import Settings
from fhir_server.storage.mongo import MongoRepository
from terminology.service import TerminologyService


@dataclass
class Services:
    settings: Settings
    connection: DatabaseConnection
    repository: MongoRepository
    rules: WriteRules
    capabilities: Capabilities
    terminology: TerminologyService
    # Set when search is wired in: ids matching `Type?query`, for conditional references in bundles.
    find_ids: FindIds | None = None
    authorizer: Authorizer = field(default_factory=AllowAll)


async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _repository(request: Request) -> MongoRepository:
    return request.app.state.services.repository  # type: ignore[no-any-return]


async def _context(request: Request) -> RequestContext:
    return build_context(request, request.app.state.services.settings.public_base_url)


ServicesDep = Annotated[Services, Depends(_services)]
RepositoryDep = Annotated[MongoRepository, Depends(_repository)]
ContextDep = Annotated[RequestContext, Depends(_context)]
