"""Parsing `$lookup`, `$validate-code`, `$expand` and `$translate` inputs into service kwargs.

Inputs arrive either as a query string (GET: every value a string, possibly repeated) or as a
`Parameters` resource (POST: typed value[x]). Both end up as the same keyword arguments.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.parameters import Parameters
from pydantic import ValidationError

from terminology.errors import TerminologyError


@dataclass(frozen=True, slots=True)
class ParamSpec:
    kwarg: str
    kind: str  # uri | code | string | integer | boolean | coding | codeableConcept | resource
    repeats: bool = False


# value[x] names accepted for each kind. Clients commonly send valueString for codes, so that is
# tolerated; anything else is a type error worth reporting.
_ACCEPTED_VALUE_KEYS: dict[str, tuple[str, ...]] = {
    "uri": ("valueUri", "valueCanonical", "valueUrl"),
    "code": ("valueCode", "valueString"),
    "string": ("valueString",),
    "integer": ("valueInteger", "valueUnsignedInt", "valuePositiveInt"),
    "boolean": ("valueBoolean",),
    "coding": ("valueCoding",),
    "codeableConcept": ("valueCodeableConcept",),
}
_QUERY_STRING_KINDS = frozenset({"uri", "code", "string", "integer", "boolean"})

OPERATION_PARAMETERS: dict[str, dict[str, ParamSpec]] = {
    "lookup": {
        "code": ParamSpec("code", "code"),
        "system": ParamSpec("system", "uri"),
        "version": ParamSpec("version", "string"),
        "coding": ParamSpec("coding", "coding"),
        "displayLanguage": ParamSpec("display_language", "code"),
        "property": ParamSpec("properties", "code", repeats=True),
    },
    "validate-code": {
        "url": ParamSpec("url", "uri"),
        "valueSet": ParamSpec("value_set", "resource"),
        "code": ParamSpec("code", "code"),
        "system": ParamSpec("system", "uri"),
        "display": ParamSpec("display", "string"),
        "coding": ParamSpec("coding", "coding"),
        "codeableConcept": ParamSpec("codeable_concept", "codeableConcept"),
    },
    "expand": {
        "url": ParamSpec("url", "uri"),
        "filter": ParamSpec("filter", "string"),
        "count": ParamSpec("count", "integer"),
        "offset": ParamSpec("offset", "integer"),
    },
    "translate": {
        "url": ParamSpec("url", "uri"),
        "conceptMap": ParamSpec("concept_map", "resource"),
        "code": ParamSpec("code", "code"),
        "system": ParamSpec("system", "uri"),
        "coding": ParamSpec("coding", "coding"),
        "source": ParamSpec("source", "uri"),
        "target": ParamSpec("target", "uri"),
        "targetsystem": ParamSpec("target_system", "uri"),
        "reverse": ParamSpec("reverse", "boolean"),
    },
}


def parse_operation_parameters(operation: str, params: Any) -> dict[str, Any]:
    """Turn GET query parameters or a POST Parameters body into kwargs for `operation`."""
    specs = OPERATION_PARAMETERS.get(operation)
    if specs is None:
        raise TerminologyError("not-supported", f"Operation ${operation} is not supported")
    if hasattr(params, "model_dump"):
        params = params.model_dump()
    if isinstance(params, Mapping) and "resourceType" in params:
        raw = _from_parameters_resource(operation, params, specs)
    elif hasattr(params, "getlist") or isinstance(params, Mapping):
        raw = _from_query(operation, params, specs)
    else:
        raise TerminologyError("invalid", f"${operation} input must be a query or a Parameters resource")
    return _split_codings(operation, raw)


def _from_query(operation: str, query: Any, specs: dict[str, ParamSpec]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for name in list(query.keys()):
        values = _query_values(query, name)
        spec = _spec(operation, name, specs)
        if spec is None:
            continue
        if spec.kind not in _QUERY_STRING_KINDS:
            raise _bad(operation, name, "cannot be sent in a query string; use POST")
        parsed = [_parse_text(operation, name, spec.kind, value) for value in values]
        _store(operation, name, spec, kwargs, parsed)
    return kwargs


def _query_values(query: Any, name: str) -> list[str]:
    # Starlette's QueryParams keeps repeats behind getlist(); plain dicts carry str or list[str].
    values = query.getlist(name) if hasattr(query, "getlist") else query[name]
    return [values] if isinstance(values, str) else list(values)


def _from_parameters_resource(
    operation: str, body: Mapping[str, Any], specs: dict[str, ParamSpec]
) -> dict[str, Any]:
    if body.get("resourceType") != "Parameters":
        raise TerminologyError("invalid", f"${operation} body must be a Parameters resource")
    try:
        Parameters.model_validate(body)
    except ValidationError as exc:
        raise TerminologyError("invalid", f"${operation} body is not a valid Parameters: {exc}") from exc
    grouped: dict[str, list[Any]] = {}
    for parameter in body.get("parameter", []):
        name = parameter.get("name", "")
        spec = _spec(operation, name, specs)
        if spec is not None:
            grouped.setdefault(name, []).append(_typed_value(operation, name, spec.kind, parameter))
    kwargs: dict[str, Any] = {}
    for name, values in grouped.items():
        _store(operation, name, specs[name], kwargs, values)
    return kwargs


def _spec(operation: str, name: str, specs: dict[str, ParamSpec]) -> ParamSpec | None:
    if name.startswith("_"):
        return None  # _format, _pretty and friends belong to the HTTP layer
    spec = specs.get(name)
    if spec is None:
        raise TerminologyError("not-supported", f"${operation} parameter '{name}' is not supported")
    return spec


def _store(operation: str, name: str, spec: ParamSpec, kwargs: dict[str, Any], values: list[Any]) -> None:
    if spec.repeats:
        kwargs[spec.kwarg] = values
    elif len(values) != 1:
        raise _bad(operation, name, "may appear only once")
    else:
        kwargs[spec.kwarg] = values[0]


def _typed_value(operation: str, name: str, kind: str, parameter: Mapping[str, Any]) -> Any:
    if kind == "resource":
        if "resource" not in parameter:
            raise _bad(operation, name, "must carry a resource")
        return parameter["resource"]
    present = [key for key in parameter if key.startswith("value")]
    accepted = _ACCEPTED_VALUE_KEYS[kind]
    if len(present) != 1 or present[0] not in accepted:
        got = present[0] if present else "no value"
        raise _bad(operation, name, f"must be {' or '.join(accepted)}, got {got}")
    return parameter[present[0]]


def _parse_text(operation: str, name: str, kind: str, text: str) -> Any:
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise _bad(operation, name, f"must be an integer, got {text!r}") from None
    if kind == "boolean":
        if text not in ("true", "false"):
            raise _bad(operation, name, f"must be true or false, got {text!r}")
        return text == "true"
    return text


def _split_codings(operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """$lookup and $translate take code+system or a coding; the service wants code and system."""
    if operation not in ("lookup", "translate") or "coding" not in kwargs:
        return kwargs
    coding = kwargs.pop("coding")
    if "code" in kwargs or "system" in kwargs:
        raise TerminologyError("invalid", f"${operation} takes 'coding' or 'code' and 'system', not both")
    kwargs["code"], kwargs["system"] = coding.get("code"), coding.get("system")
    if operation == "lookup" and coding.get("version"):
        kwargs.setdefault("version", coding["version"])
    return kwargs


def _bad(operation: str, name: str, problem: str) -> TerminologyError:
    return TerminologyError("invalid", f"${operation} parameter '{name}' {problem}")


def require(operation: str, kwargs: dict[str, Any], *names: str) -> None:
    for name in names:
        if not kwargs.get(name):
            raise TerminologyError("invalid", f"${operation} requires parameter '{name}'")
