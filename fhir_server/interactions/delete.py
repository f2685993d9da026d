"""delete: DELETE [base]/[type]/[id] (https://hl7.org/fhir/R4/http.html#delete).

Policy (also stated in the CapabilityStatement): deleting an id that never existed is 404; deleting an
already deleted resource succeeds again without a new version (delete is idempotent); a read afterwards
is 410 Gone and history keeps every version. `If-Match` is honoured. Conditional delete
(`DELETE [type]?criteria`) is in `fhir_server.interactions.conditional`.
"""

from __future__ import annotations

from fhir_server.core.context import RequestContext
from fhir_server.core.result import FhirResult, outcome_result
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.common import check_target, conflict, parse_version_etag
from fhir_server.storage.repository import Repository, VersionConflict

POLICY = (
    "DELETE of an id that never existed answers 404; DELETE of an already deleted resource answers 200 "
    "(idempotent, no new version); a read after DELETE answers 410 Gone."
)


def delete(
    repository: Repository,
    ctx: RequestContext,
    resource_type: str,
    resource_id: str,
    *,
    if_match: str | None = None,
) -> FhirResult:
    check_target(resource_type, resource_id)
    expected = parse_version_etag(if_match) if if_match else None
    try:
        version = repository.delete(resource_type, resource_id, expected_version=expected)
    except VersionConflict as exc:
        raise conflict(resource_type, resource_id, expected, exc.current_version) from None
    if version is None:
        if repository.read(resource_type, resource_id) is None:
            raise FhirError(Problem.NOT_FOUND, f"{resource_type}/{resource_id} does not exist")
        return outcome_result(ctx, f"{resource_type}/{resource_id} was already deleted")
    result = outcome_result(ctx, f"Deleted {resource_type}/{resource_id} (version {version.version})")
    result.headers["ETag"] = version.etag
    return result
