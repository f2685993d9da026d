"""The long-lived objects a request needs, and the `Annotated` dependency aliases that hand them out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from fhir_server.api.context import RequestContext, build_context
from fhir_server.db import DatabaseConnection
from fhir_server.interactions.capabilities import Capabilities
from fhir_server.interactions.common import WriteRules
from fhir_server.interactions.conditional import FindIds
from fhir_server.search.locks import COLLECTION as LOCKS
from fhir_server.search.locks import CriteriaLock
from fhir_server.settings import Settings
from fhir_server.storage.mongo import MongoRepository
from terminology.service import TerminologyService


@dataclass
class Services:
    settings: Settings
    connection: DatabaseConnection
    # The server's own view of the data (sync, import, demo, operator commands). Request code never uses it:
    # it reaches data through `fhir_server.access.store.secured(request)`, bound to the caller's access.
    repository: MongoRepository
    rules: WriteRules
    capabilities: Capabilities
    terminology: TerminologyService
    # The server's own lookups by criteria (the sync's patient matching, hospital registration).
    find_ids: FindIds | None = None

    def criteria_locks(self) -> CriteriaLock:
        """The locks that make conditional writes on the same criteria take turns."""
        collection = self.connection.db.get_collection(LOCKS)
        return CriteriaLock(collection, self.settings.conditional_lock_seconds)


async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _context(request: Request) -> RequestContext:
    return build_context(request)


ServicesDep = Annotated[Services, Depends(_services)]
ContextDep = Annotated[RequestContext, Depends(_context)]
