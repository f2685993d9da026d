"""What the old API reads, through the caller's secured store: every search carries the caller's access
(a patient token finds only its own patient and studies), and what is shown is audited as one AuditEvent
per request, as a FHIR search is.

Old ids (`PAT-…`, `HOS-…`, `STU-…`) are found by the `legacy-*-id` identifier the import (and the old API's
own writes) gave each resource; an id that is no such identifier is tried as a FHIR id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl

from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.lookup import identifier_query
from fhir_server.search.matching import matches
from fhir_server.security.access.store import SecuredStore, Shown
from terminology.systems import LEGACY_HOSPITAL_ID_SYSTEM, LEGACY_PATIENT_ID_SYSTEM, LEGACY_STUDY_ID_SYSTEM

from .shapes import Resource

OLD_ID_SYSTEMS = {
    "Patient": LEGACY_PATIENT_ID_SYSTEM,
    "Organization": LEGACY_HOSPITAL_ID_SYSTEM,
    "ImagingStudy": LEGACY_STUDY_ID_SYSTEM,
}
# Versions loaded per database round trip when a list is read whole.
_LOAD_BATCH = 500
_OLD_NOUNS = {"Patient": "Patient", "Organization": "Hospital", "ImagingStudy": "Study"}


class OldApiReader:
    """One request's reads. `record()` writes the request's AuditEvent of everything it showed."""

    def __init__(self, store: SecuredStore, description: str) -> None:
        self._store = store
        self._shown: Shown = store.showing()
        self._description = description
        self._by_reference: dict[str, Resource | None] = {}

    @property
    def store(self) -> SecuredStore:
        return self._store

    def search(self, resource_type: str, pairs: Sequence[tuple[str, str]]) -> list[Resource]:
        """Every live match the caller may see (the old API had no paging), ordered by id."""
        engine = self._store.search_engine(resource_type)
        found = matches(engine, resource_type, list(pairs))
        resources: list[Resource] = []
        for start in range(0, len(found), _LOAD_BATCH):
            for version in engine.load(resource_type, found[start : start + _LOAD_BATCH]):
                if version.resource is not None and self._shown.visible(resource_type, version.resource):
                    resources.append(version.resource)
                    self._by_reference[f"{resource_type}/{version.resource['id']}"] = version.resource
        return resources

    def by_old_id(self, resource_type: str, old_id: str) -> Resource | None:
        """The resource the old app called `old_id`, or None when there is none the caller may see (the
        two are indistinguishable). Several (a merged Patient keeps its source's identifiers): the active
        one."""
        if self._store.may("search", resource_type):  # else (a read-only token) by FHIR id only
            pairs = parse_qsl(identifier_query(OLD_ID_SYSTEMS[resource_type], old_id))
            found = self.search(resource_type, pairs)
            if found:
                return min(found, key=lambda r: (r.get("active") is False, r["id"]))
        return self.resolve(f"{resource_type}/{old_id}")

    def required(self, resource_type: str, old_id: str, expression: str | None = None) -> Resource:
        found = self.by_old_id(resource_type, old_id)
        if found is None:
            raise FhirError(
                Problem.NOT_FOUND,
                f"{_OLD_NOUNS[resource_type]} {old_id} not found",
                [expression] if expression else [],
            )
        return found

    def resolve(self, reference: str | None) -> Resource | None:
        """A literal `Type/id` reference's target, when the caller may see it (cached per request)."""
        if not reference or reference.count("/") != 1:
            return None
        if reference not in self._by_reference:
            resource_type, resource_id = reference.split("/")
            resource: Resource | None = None
            if resource_type in ("Patient", "Organization", "Endpoint", "ImagingStudy") and resource_id:
                engine = self._store.engine
                for version in engine.load(resource_type, engine.by_ids(resource_type, [resource_id])):
                    if version.resource is not None and self._shown.visible(resource_type, version.resource):
                        resource = version.resource
            self._by_reference[reference] = resource
        return self._by_reference[reference]

    def hospital_of(self, study: Resource) -> Resource | None:
        """The Organization holding a study: ImagingStudy.endpoint -> Endpoint.managingOrganization."""
        for endpoint_reference in study.get("endpoint", []):
            endpoint = self.resolve(endpoint_reference.get("reference"))
            if endpoint is not None:
                organization = self.resolve(endpoint.get("managingOrganization", {}).get("reference"))
                if organization is not None:
                    return organization
        return None

    def studies_of_patients(self, patients: Iterable[Resource]) -> list[Resource]:
        references = ",".join(f"Patient/{p['id']}" for p in patients)
        return self.search("ImagingStudy", [("patient", references)]) if references else []

    def record(self) -> None:
        self._shown.record(self._description)
