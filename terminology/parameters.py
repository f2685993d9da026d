"""The one entry point the REST layer needs for terminology operations.

    GET  /fhir/CodeSystem/$lookup?system=...&code=...  -> run_operation(svc, "lookup", query, None)
    POST /fhir/ValueSet/$validate-code  (Parameters)    -> run_operation(svc, "validate-code", body, None)
    GET  /fhir/ValueSet/{id}/$expand?filter=...         -> run_operation(svc, "expand", query,
                                                             resolve_instance_url(svc, "ValueSet", id))

The result is a Parameters resource (a ValueSet for $expand); failures raise TerminologyError whose
`code` maps to an HTTP status (not-found 404, invalid 400, not-supported 400).
"""

from typing import Any

from terminology.errors import TerminologyError
from terminology.operation_inputs import parse_operation_parameters, require
from terminology.operation_outputs import (
    lookup_to_parameters,
    translate_to_parameters,
    validation_to_parameters,
)
from terminology.service import TerminologyService

__all__ = [
    "lookup_to_parameters",
    "parse_operation_parameters",
    "resolve_instance_url",
    "run_operation",
    "translate_to_parameters",
    "validation_to_parameters",
]

# For an instance-level call the instance's canonical URL fills this input parameter.
_INSTANCE_PARAMETER = {"lookup": "system", "validate-code": "url", "expand": "url", "translate": "url"}


def run_operation(
    service: TerminologyService, name: str, params: Any, instance_url: str | None = None
) -> dict[str, Any]:
    """Run `$lookup`, `$validate-code`, `$expand` or `$translate` (name with or without `$`).

    `params` is a query-string mapping (str or list[str] values, or Starlette QueryParams) or a
    Parameters resource (dict or fhir.resources model).
    """
    operation = name.removeprefix("$")
    kwargs = parse_operation_parameters(operation, params)
    if instance_url is not None:
        _apply_instance_url(operation, kwargs, instance_url)
    if operation == "lookup":
        require(operation, kwargs, "system", "code")
        result = service.lookup(**kwargs)
        if result is None:
            raise TerminologyError("not-found", f"Code {kwargs['code']!r} is not in {kwargs['system']}")
        return lookup_to_parameters(result)
    if operation == "validate-code":
        return validation_to_parameters(service.validate_code(**kwargs))
    if operation == "expand":
        require(operation, kwargs, "url")
        return service.expand(**kwargs)
    require(operation, kwargs, "system", "code")
    return translate_to_parameters(service.translate(**kwargs))


def resolve_instance_url(service: TerminologyService, resource_type: str, resource_id: str) -> str:
    """Canonical URL of a served resource, for instance-level calls such as ValueSet/{id}/$expand."""
    for resource in service.resources():
        if resource.get("resourceType") == resource_type and resource.get("id") == resource_id:
            url = resource.get("url")
            if url:
                return str(url)
    raise TerminologyError("not-found", f"{resource_type}/{resource_id} is not known to this server")


def _apply_instance_url(operation: str, kwargs: dict[str, Any], instance_url: str) -> None:
    parameter = _INSTANCE_PARAMETER[operation]
    given = kwargs.get(parameter)
    if given is not None and given != instance_url:
        raise TerminologyError(
            "invalid", f"${operation} parameter '{parameter}' ({given}) contradicts instance {instance_url}"
        )
    kwargs[parameter] = instance_url
