"""create: POST [base]/[type] (https://hl7.org/fhir/R4/http.html#create).

The server assigns the id (a client-supplied id is ignored, as the spec says) and answers
201 Created with Location, ETag W/"1" and Last-Modified.
"""

from __future__ import annotations

from starlette.responses import Response

from fhir_server.api.context import RequestContext
from fhir_server.api.responses import resource_response
from fhir_server.interactions.common import WriteRules
from fhir_server.resource_types import require_type
from fhir_server.storage.repository import Repository
from fhir_server.validation import parse_resource

CAPABILITY = "create"


def create(
    repository: Repository, ctx: RequestContext, rules: WriteRules, resource_type: str, body: bytes
) -> Response:
    require_type(resource_type)
    data = parse_resource(body, resource_type)
    data.pop("id", None)
    resource, warnings = rules.validate(data)
    version = repository.create(resource)
    return resource_response(
        ctx, version, status=201, location=True, outcome_message=f"Created {version.reference}", warnings=warnings
    )
