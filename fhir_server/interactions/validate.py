"""$validate on every stored resource type (https://hl7.org/fhir/R4/resource-operation-validate.html).

Runs exactly the checks of a write (structure, JSON types, id, terminology bindings) and stores nothing.
As the spec says, the answer is 200 with an OperationOutcome whether or not the resource is valid; only a
request that cannot be understood at all (no resource to validate) is a 400.
"""

from __future__ import annotations

from fhir_server.core.context import RequestContext
from fhir_server.core.result import FhirResult
from fhir_server.errors import FhirError, Issue, Problem, operation_outcome
from fhir_server.interactions.common import WriteRules
from fhir_server.resource_types import require_type
from fhir_server.type_aliases import JsonObject
from fhir_server.validation import check_resource_shape, parameter_entries, parse_json


def validate(
    ctx: RequestContext, rules: WriteRules, resource_type: str, body: bytes, resource_id: str | None = None
) -> FhirResult:
    require_type(resource_type)
    data = parse_json(body)
    if isinstance(data, dict) and data.get("resourceType") == "Parameters":
        data = _resource_parameter(data)
    try:
        resource = check_resource_shape(data, resource_type)
        if resource_id is not None and resource.get("id") not in (None, resource_id):
            raise FhirError(
                Problem.INVALID,
                f"The id in the body differs from the URL ({resource_id!r})",
                [f"{resource_type}.id"],
            )
        _, warnings = rules.validate(resource)
    except FhirError as exc:
        return FhirResult(resource=exc.outcome())
    issues = [Issue("information", "informational", f"The {resource_type} is valid"), *warnings]
    return FhirResult(resource=operation_outcome(issues))


def _resource_parameter(parameters: JsonObject) -> object:
    """The `resource` parameter (0..1) of the Parameters form. A malformed Parameters body is the request's
    fault (400), unlike an invalid resource inside it (200 with the issues)."""
    found = [(path, p) for path, p in parameter_entries(parameters, "$validate") if p["name"] == "resource"]
    if not found:
        raise FhirError(Problem.REQUIRED, "$validate needs a 'resource' parameter", ["Parameters.parameter"])
    if len(found) > 1:
        raise FhirError(Problem.INVALID, "$validate takes one 'resource' parameter", [f"{found[1][0]}.name"])
    path, parameter = found[0]
    if not isinstance(parameter.get("resource"), dict):
        problem = Problem.REQUIRED if "resource" not in parameter else Problem.STRUCTURE
        raise FhirError(
            problem,
            f"{path}.resource: the 'resource' parameter carries a resource (a JSON object)",
            [f"{path}.resource"],
        )
    return parameter["resource"]
