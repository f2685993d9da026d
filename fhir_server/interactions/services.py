"""The long-lived objects a request needs: settings, write rules, capabilities, terminology, locks."""

from __future__ import annotations

from dataclasses import dataclass

from fhir_server.interactions.capabilities import Capabilities
from fhir_server.interactions.common import WriteRules
from fhir_server.interactions.conditional import FindIds
from fhir_server.search.locks import COLLECTION as LOCKS
from fhir_server.search.locks import CriteriaLock
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection
from fhir_server.storage.repository import ResourceStore
from terminology.service import TerminologyService


@dataclass
class Services:
    settings: Settings
    connection: DatabaseConnection
    # The server's own view of the data (sync, import, demo, operator commands). Request code never uses it:
    # it reaches data through the caller's secured store (`FhirRequest.store`).
    repository: ResourceStore
    rules: WriteRules
    capabilities: Capabilities
    terminology: TerminologyService
    # The server's own lookups by criteria (the sync's patient matching, hospital registration).
    find_ids: FindIds | None = None

    def criteria_locks(self) -> CriteriaLock:
        """The locks that make conditional writes on the same criteria take turns."""
        collection = self.connection.documents.collection(LOCKS)
        return CriteriaLock(collection, self.settings.conditional_lock_seconds)
