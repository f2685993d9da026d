"""vread: GET [base]/[type]/[id]/_history/[vid] (https://hl7.org/fhir/R4/http.html#vread).

A version that records a deletion answers 410 Gone; an unknown version 404.
"""

from __future__ import annotations

from fhir_server.core.context import RequestContext
from fhir_server.core.result import FhirResult, version_result
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.common import check_target, parse_version_id
from fhir_server.storage.repository import Repository


def vread(
    repository: Repository, ctx: RequestContext, resource_type: str, resource_id: str, version_id: str
) -> FhirResult:
    check_target(resource_type, resource_id)
    version = repository.vread(resource_type, resource_id, parse_version_id(version_id))
    if version is None:
        if repository.read(resource_type, resource_id) is None:
            raise FhirError(Problem.NOT_FOUND, f"{resource_type}/{resource_id} does not exist")
        raise FhirError(Problem.NOT_FOUND, f"{resource_type}/{resource_id} has no version {version_id}")
    if version.deleted:
        raise FhirError(
            Problem.GONE, f"Version {version_id} of {resource_type}/{resource_id} records its deletion"
        )
    return version_result(version)
