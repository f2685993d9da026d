"""Parsing a search request's parameters (https://hl7.org/fhir/R4/search.html).

Search parameters become criteria; `_count`, `_sort`, `_include`… become `SearchRequest` fields. A
parameter this server does not know is ignored and left out of the `self` link, unless the client sent
`Prefer: handling=strict`, which turns it into a 400 (https://hl7.org/fhir/R4/search.html#errors).
Malformed values of known parameters are always a 400 that names the parameter, and so is a request beyond
the caps on its size: parameters per search (FHIR_MAX_SEARCH_PARAMETERS) and comma-separated values per
parameter (FHIR_MAX_OR_VALUES).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from fhir_server.errors import FhirError, Problem
from fhir_server.params import parse_count
from fhir_server.search.compile import check_modifier
from fhir_server.search.criteria import ChainCriterion, Criterion, HasCriterion, ValueCriterion
from fhir_server.search.registry import SEARCH_PARAMETERS, SearchParam, parameters_of
from fhir_server.search.values import split_unescaped
from fhir_server.settings import Settings

Total = Literal["none", "estimate", "accurate"]
Summary = Literal["true", "false", "text", "data", "count"]
_TOTALS: tuple[Total, ...] = ("none", "estimate", "accurate")
_SUMMARIES: tuple[Summary, ...] = ("true", "false", "text", "data", "count")

# Result parameters handled by the search itself (https://hl7.org/fhir/R4/search.html#return).
RESULT_PARAMETERS = frozenset(
    {"_count", "_sort", "_page", "_total", "_summary", "_elements", "_include", "_revinclude"}
)
# Understood by the HTTP layer for every interaction; neither criteria nor unknown.
FORMAT_PARAMETERS = frozenset({"_format", "_pretty"})
_ELEMENT = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
# The caps when a caller passes none: the settings' defaults (FHIR_MAX_OR_VALUES, FHIR_MAX_SEARCH_PARAMETERS).
DEFAULT_MAX_OR_VALUES: int = Settings.model_fields["max_or_values"].default
DEFAULT_MAX_SEARCH_PARAMETERS: int = Settings.model_fields["max_search_parameters"].default


@dataclass(frozen=True)
class SortKey:
    param: SearchParam
    descending: bool

    @property
    def text(self) -> str:
        return ("-" if self.descending else "") + self.param.name


@dataclass(frozen=True)
class IncludeSpec:
    """`_include` (source type's reference parameter → targets) or `_revinclude` (resources of the source
    type whose reference parameter points at the results); `param` None is `*`."""

    source_type: str
    param: str | None
    target_type: str | None
    iterate: bool
    reverse: bool


@dataclass
class SearchRequest:
    resource_type: str
    criteria: list[Criterion] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    count: int = 20
    page: str | None = None
    total: Total = "accurate"
    summary: Summary | None = None
    elements: list[str] | None = None
    includes: list[IncludeSpec] = field(default_factory=list)
    link_params: list[tuple[str, str]] = field(default_factory=list)  # understood parameters, for links

    @property
    def sort_signature(self) -> str:
        return ",".join(key.text for key in self.sort)


def parse_search(
    resource_type: str,
    pairs: Sequence[tuple[str, str]],
    *,
    strict: bool,
    default_count: int,
    max_count: int,
    allow_results: bool = True,
    max_or_values: int = DEFAULT_MAX_OR_VALUES,
    max_parameters: int = DEFAULT_MAX_SEARCH_PARAMETERS,
) -> SearchRequest:
    """`allow_results` False (conditional interactions) accepts search criteria only."""
    request = SearchRequest(resource_type, count=default_count)
    unknown: list[str] = []
    # An empty parameter is ignored (search.html#2.21.1.1); format parameters belong to the HTTP layer.
    used = [(key, value) for key, value in pairs if value != "" and key not in FORMAT_PARAMETERS]
    if len(used) > max_parameters:
        excess = used[max_parameters][0]
        raise FhirError(
            Problem.INVALID,
            f"A search takes at most {max_parameters} parameters (FHIR_MAX_SEARCH_PARAMETERS), repeats "
            f"included; this one has {len(used)}",
            [excess],
        )
    for key, value in used:
        base = key.split(":", 1)[0]
        if base in RESULT_PARAMETERS:
            if not allow_results:
                raise FhirError(Problem.INVALID, f"'{key}' is not allowed in conditional criteria", [key])
            _result_parameter(request, key, base, value, default_count, max_count, max_or_values)
            continue
        values = tuple(v for v in _alternatives(key, value, max_or_values) if v != "")
        criterion = parse_criterion(resource_type, key, values, key) if values else None
        if criterion is None:
            unknown.append(key)
            continue
        request.criteria.append(criterion)
        request.link_params.append((key, value))
    if unknown and strict:
        names = ", ".join(sorted(set(unknown)))
        raise FhirError(
            Problem.INVALID,
            f"Unknown or unsupported search parameter(s) for {resource_type}: {names} "
            "(Prefer: handling=strict); see the CapabilityStatement for supported ones",
            sorted(set(unknown)),
        )
    return request


def _alternatives(key: str, value: str, max_or_values: int) -> list[str]:
    """The comma-separated values of one parameter (search.html#combining), at most `max_or_values`."""
    values = split_unescaped(value, ",")
    if len(values) > max_or_values:
        raise FhirError(
            Problem.INVALID,
            f"'{key}' has {len(values)} comma-separated values; at most {max_or_values} are allowed "
            "(FHIR_MAX_OR_VALUES)",
            [key],
        )
    return values


def parse_criterion(
    resource_type: str, key: str, values: tuple[str, ...], expression: str
) -> Criterion | None:
    """The criterion for `key`, or None when it names nothing this server knows (unknown parameter)."""
    if key.startswith("_has:"):
        return _reverse_chain(resource_type, key, values, expression)
    head, dot, rest = key.partition(".")
    name, _, modifier = head.partition(":")
    param = parameters_of(resource_type).get(name)
    if param is None:
        return None
    if dot:
        return _chain(resource_type, param, modifier or None, rest, values, expression)
    check_modifier(param, modifier or None, expression)
    return ValueCriterion(resource_type, param, modifier or None, values, expression)


def _chain(
    resource_type: str,
    param: SearchParam,
    modifier: str | None,
    rest: str,
    values: tuple[str, ...],
    expression: str,
) -> Criterion | None:
    if param.type != "reference":
        raise FhirError(
            Problem.INVALID, f"'{expression}': only reference parameters can be chained", [expression]
        )
    if modifier is not None and modifier not in param.targets:
        raise FhirError(
            Problem.INVALID,
            f"'{expression}': :{modifier} is not a target type of {param.name} ({', '.join(param.targets)})",
            [expression],
        )
    if not rest:
        raise FhirError(Problem.INVALID, f"'{expression}': a chain needs a parameter after '.'", [expression])
    inner: list[Criterion] = []
    for target in (modifier,) if modifier else param.targets:
        if target not in SEARCH_PARAMETERS:
            continue  # a target type this server does not store has no resources to match
        criterion = parse_criterion(target, rest, values, expression)
        if criterion is not None:
            inner.append(criterion)
    if not inner:
        return None
    return ChainCriterion(resource_type, param, tuple(inner), expression)


def _reverse_chain(
    resource_type: str, key: str, values: tuple[str, ...], expression: str
) -> Criterion | None:
    parts = key.split(":", 3)
    if len(parts) != 4 or not all(parts[1:]):
        raise FhirError(
            Problem.INVALID,
            f"'{expression}': _has takes the form _has:Type:reference-parameter:parameter",
            [expression],
        )
    _, source_type, reference_name, rest = parts
    if source_type not in SEARCH_PARAMETERS:
        return None  # not a type of the repository (a standalone one such as AuditEvent): unknown here
    reference = parameters_of(source_type).get(reference_name)
    if reference is None or reference.type != "reference" or resource_type not in reference.targets:
        return None
    inner = parse_criterion(source_type, rest, values, expression)
    if inner is None:
        return None
    return HasCriterion(resource_type, source_type, reference, inner, expression)


def _result_parameter(
    request: SearchRequest,
    key: str,
    base: str,
    value: str,
    default_count: int,
    max_count: int,
    max_or_values: int,
) -> None:
    if base in ("_include", "_revinclude"):
        request.includes.extend(_includes(request.resource_type, key, base, value))
        request.link_params.append((key, value))
        return
    if ":" in key:
        raise FhirError(Problem.INVALID, f"'{key}': {base} takes no modifier", [key])
    if base == "_count":
        request.count = parse_count(value, default_count, max_count)
        request.link_params.append((key, str(request.count)))
    elif base == "_sort":
        request.sort = _sort(request.resource_type, _alternatives(key, value, max_or_values))
        request.link_params.append((key, request.sort_signature))
    elif base == "_page":
        request.page = value
    elif base == "_total":
        if value not in _TOTALS:
            raise FhirError(Problem.INVALID, "_total must be none, estimate or accurate", ["_total"])
        request.total = value
        request.link_params.append((key, value))
    elif base == "_summary":
        if value not in _SUMMARIES:
            raise FhirError(
                Problem.INVALID, "_summary must be true, false, text, data or count", ["_summary"]
            )
        request.summary = value
        request.link_params.append((key, value))
    elif base == "_elements":
        elements = [e.strip() for e in _alternatives(key, value, max_or_values) if e.strip()]
        bad = [e for e in elements if not _ELEMENT.match(e)]
        if bad:
            raise FhirError(
                Problem.INVALID,
                f"_elements lists top-level element names; not {bad[0][:40]!r}",
                ["_elements"],
            )
        request.elements = elements
        request.link_params.append((key, ",".join(elements)))


def _sort(resource_type: str, items: list[str]) -> list[SortKey]:
    keys: list[SortKey] = []
    for item in items:
        name = item.strip()
        descending = name.startswith("-")
        name = name.removeprefix("-")
        param = parameters_of(resource_type).get(name)
        if param is None:
            raise FhirError(
                Problem.INVALID, f"_sort: {resource_type} has no search parameter {name[:40]!r}", ["_sort"]
            )
        keys.append(SortKey(param, descending))
    return keys


def _includes(resource_type: str, key: str, base: str, value: str) -> list[IncludeSpec]:
    reverse = base == "_revinclude"
    modifier = key.partition(":")[2]
    if modifier not in ("", "iterate", "recurse"):
        raise FhirError(Problem.INVALID, f"'{key}': the only modifier of {base} is :iterate", [key])
    iterate = modifier != ""
    if value == "*":
        if reverse:
            raise FhirError(Problem.INVALID, "_revinclude=* is not supported; name Type:parameter", [key])
        return [IncludeSpec(resource_type, None, None, iterate, reverse)]
    parts = value.split(":")
    if len(parts) not in (2, 3) or parts[0] not in SEARCH_PARAMETERS:
        raise FhirError(
            Problem.INVALID,
            f"{key}={value[:60]!r}: expected SourceType:parameter[:TargetType] of a type stored here",
            [key],
        )
    source_type, name = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if not reverse and not iterate and source_type != resource_type:
        raise FhirError(
            Problem.INVALID, f"{key}={value}: {base} without :iterate must start with {resource_type}", [key]
        )
    if name == "*":
        if reverse:
            raise FhirError(Problem.INVALID, f"{key}={value}: name the reference parameter", [key])
        return [IncludeSpec(source_type, None, target, iterate, reverse)]
    param = parameters_of(source_type).get(name)
    if param is None or param.type != "reference":
        raise FhirError(
            Problem.INVALID, f"{key}={value}: {source_type} has no reference parameter {name!r}", [key]
        )
    if target is not None and target not in param.targets:
        raise FhirError(
            Problem.INVALID, f"{key}={value}: {target} is not a target of {source_type}:{name}", [key]
        )
    if reverse and not iterate and resource_type not in param.targets:
        raise FhirError(
            Problem.INVALID, f"{key}={value}: {source_type}:{name} never refers to {resource_type}", [key]
        )
    return [IncludeSpec(source_type, name, target, iterate, reverse)]
