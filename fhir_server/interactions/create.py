"""create: POST [base]/[type] (https://hl7.org/fhir/R4/http.html#create).

The server assigns the id (a client-supplied id is ignored, as the spec says) and answers
201 Created with Location, ETag W/"1" and Last-Modified. Conditional create (`If-None-Exist`) is in
`fhir_server.interactions.conditional` and reuses `new_resource` and `created`.
"""

from __future__ import annotations

from collections.abc import Sequence

from fhir_server.core.context import RequestContext
from fhir_server.core.result import FhirResult, resource_result
from fhir_server.errors import Issue
from fhir_server.interactions.common import WriteRules
from fhir_server.resource_types import require_type
from fhir_server.storage.repository import Repository, ResourceVersion
from fhir_server.type_aliases import JsonObject
from fhir_server.validation import parse_resource


def create(
    repository: Repository, ctx: RequestContext, rules: WriteRules, resource_type: str, body: bytes
) -> FhirResult:
    resource, warnings = new_resource(rules, resource_type, body)
    return created(ctx, repository.create(resource), warnings)


def new_resource(rules: WriteRules, resource_type: str, body: bytes) -> tuple[JsonObject, list[Issue]]:
    """The validated resource of a create body (any client-supplied id dropped) and its warnings."""
    require_type(resource_type)
    data = parse_resource(body, resource_type)
    data.pop("id", None)
    return rules.validate(data)


def created(ctx: RequestContext, version: ResourceVersion, warnings: Sequence[Issue]) -> FhirResult:
    return resource_result(
        ctx,
        version,
        status=201,
        location=True,
        outcome_message=f"Created {version.reference}",
        warnings=warnings,
    )
