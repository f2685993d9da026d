"""Compiling a value criterion into a `Clause` of index conditions, per parameter type and modifier
(https://hl7.org/fhir/R4/search.html#string, #token, #date, #reference, #uri, #modifiers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fhir_server.errors import FhirError, Problem
from fhir_server.search import keys as k
from fhir_server.search.conditions import AnyKey, Clause, Condition, ExactString, KeyRange, prefix_range
from fhir_server.search.criteria import ValueCriterion
from fhir_server.search.date_conditions import PREFIXES, date_conditions
from fhir_server.search.dates import parse_interval
from fhir_server.search.normalize import fold, phonetic_codes
from fhir_server.search.references import normalize_reference
from fhir_server.search.registry import SearchParam
from fhir_server.search.values import split_unescaped, unescape

# Expected candidates per alternative when a clause drives the query; only the order matters.
EXACT_COST = 1.0
LOW_CARDINALITY_COST = 10_000.0
SCAN_COST = 100_000.0  # a whole parameter's key range (:missing=false, :contains)

MODIFIERS: dict[str, frozenset[str]] = {
    "string": frozenset({"exact", "contains", "missing"}),
    "token": frozenset({"not", "text", "missing", "of-type"}),
    "date": frozenset({"missing"}),
    "reference": frozenset({"missing", "identifier"}),
    "uri": frozenset({"missing", "above", "below"}),
}
# Defined by R4 for the type but not implemented here (ValueSet expansion, code hierarchies): refused.
UNSUPPORTED_MODIFIERS: dict[str, frozenset[str]] = {
    "string": frozenset({"text"}),
    "token": frozenset({"in", "not-in", "above", "below"}),
    "reference": frozenset({"above", "below"}),
    "uri": frozenset(),
    "date": frozenset(),
}


def invalid(criterion: ValueCriterion, message: str) -> FhirError:
    return FhirError(
        Problem.INVALID, f"Search parameter '{criterion.expression}': {message}", [criterion.expression]
    )


def check_modifier(param: SearchParam, modifier: str | None, expression: str) -> None:
    if modifier is None or modifier in MODIFIERS[param.type]:
        if modifier == "of-type" and param.datatype != "Identifier":
            raise FhirError(
                Problem.INVALID,
                f"':of-type' applies to identifier parameters only ({expression})",
                [expression],
            )
        return
    if param.type == "reference" and modifier in param.targets:
        return
    if modifier in UNSUPPORTED_MODIFIERS[param.type]:
        raise FhirError(
            Problem.INVALID,
            f"Modifier ':{modifier}' is not supported by this server ({expression})",
            [expression],
        )
    raise FhirError(
        Problem.INVALID,
        f"Unknown modifier ':{modifier}' for {param.type} parameter '{param.name}'",
        [expression],
    )


def compile_value(criterion: ValueCriterion, own_bases: Sequence[str]) -> Clause:
    param, modifier = criterion.param, criterion.modifier
    check_modifier(param, modifier, criterion.expression)
    if modifier == "missing":
        return _missing(criterion)
    if param.type == "string":
        return _string(criterion)
    if param.type == "token":
        return _token(criterion)
    if param.type == "date":
        return _date(criterion)
    if param.type == "reference":
        return _reference(criterion, own_bases)
    return _uri(criterion)


# Keys of a parameter `indexed_as` another are not indexed (fhir_server.search.extract): conditions on them
# test the parameter's own keys and drive through the other parameter's, a superset.


def _any(param: SearchParam, keys: tuple[str, ...]) -> AnyKey:
    if param.indexed_as is None:
        return AnyKey(keys)
    return AnyKey(keys, tuple(dict.fromkeys(param.driving(key) for key in keys)))


def _range(param: SearchParam, prefix: str, check: Callable[[str], bool] | None = None) -> KeyRange:
    return prefix_range(prefix, check, param.driving(prefix))


def _driving_name(param: SearchParam) -> str:
    return param.indexed_as or param.name


def _missing(criterion: ValueCriterion) -> Clause:
    if len(criterion.values) != 1 or criterion.values[0] not in ("true", "false"):
        raise invalid(criterion, ":missing takes true or false")
    param = criterion.param
    prefix = k.presence_prefix(param.name, param.type == "date")
    if param.type == "token":
        # Every token value with a code has both keys, and only the `:code=` one is indexed.
        prefix = k.code_key(param.name, "")
    presence = _range(param, prefix)
    return Clause(criterion.expression, [presence], SCAN_COST, negated=criterion.values[0] == "true")


def _string(criterion: ValueCriterion) -> Clause:
    name = criterion.param.name
    alternatives: list[Condition] = []
    cost = 0.0
    for raw in criterion.values:
        text = unescape(raw)
        folded = fold(text)
        if criterion.param.derive == "phonetic":
            codes = phonetic_codes(text)
            if not codes:
                raise invalid(criterion, f"{text[:40]!r} has no letters to match phonetically")
            alternatives.append(_any(criterion.param, tuple(k.value_key(name, c) for c in codes)))
            cost += 100.0
        elif criterion.modifier == "exact":
            folded_key = k.value_key(name, folded)
            via = criterion.param.driving(folded_key)
            alternatives.append(
                ExactString(folded_key, k.value_key(name, text), None if via == folded_key else via)
            )
            cost += EXACT_COST * 10
        elif criterion.modifier == "contains":
            # The one modifier no index range can bound: it scans the parameter's keys (index-served, no
            # regex) and tests each; cheap when another criterion drives the query.
            alternatives.append(_range(criterion.param, f"{name}=", _contains(folded, len(name) + 1)))
            cost += SCAN_COST
        else:
            alternatives.append(_range(criterion.param, k.value_key(name, folded)))
            cost += 5_000.0 / (1 + len(folded)) ** 2
    return Clause(criterion.expression, alternatives, cost)


def _contains(needle: str, start: int) -> Callable[[str], bool]:
    return lambda key: needle in key[start:]


def _token_parts(raw: str) -> tuple[str | None, str]:
    """(system or None when absent, code) of `code`, `system|code`, `|code` or `system|`."""
    parts = split_unescaped(raw, "|")
    if len(parts) == 1:
        return None, unescape(parts[0])
    return unescape(parts[0]), unescape("|".join(parts[1:]))


def _token(criterion: ValueCriterion) -> Clause:
    param = criterion.param
    name = param.name
    unit = LOW_CARDINALITY_COST if param.low_cardinality else EXACT_COST
    alternatives: list[Condition] = []
    cost = 0.0
    for raw in criterion.values:
        if criterion.modifier == "text":
            alternatives.append(_range(param, k.text_key(name, fold(unescape(raw)))))
            cost += 500.0
            continue
        # Only `{name}:code=` keys are indexed (fhir_server.search.keys): a system or identifier type is
        # tested on the candidates that the code finds.
        if criterion.modifier == "of-type":
            parts = [unescape(p) for p in split_unescaped(raw, "|")]
            if len(parts) != 3 or not parts[1] or not parts[2]:
                raise invalid(criterion, ":of-type takes type-system|type-code|value")
            via = (k.code_key(_driving_name(param), parts[2]),)
            alternatives.append(AnyKey((k.type_key(name, *parts),), via))
            cost += EXACT_COST
            continue
        system, code = _token_parts(raw)
        if param.datatype == "ContactPoint":
            code = code.strip().lower()
        if system is not None and not code:
            if not system:
                raise invalid(
                    criterion, "a token needs a code, a system, or both ('|' alone matches nothing)"
                )
            # Every code of the parameter drives: index-served, but a scan of the parameter's keys.
            by_system = prefix_range(
                k.token_key(name, system, ""), via_prefix=k.code_key(_driving_name(param), "")
            )
            alternatives.append(by_system)
            cost += SCAN_COST
        elif system is None:
            alternatives.append(_any(param, (k.code_key(name, code),)))
            cost += unit
        else:
            via = (k.code_key(_driving_name(param), code),)
            alternatives.append(AnyKey((k.token_key(name, system, code),), via))
            cost += unit
    return Clause(criterion.expression, alternatives, cost, negated=criterion.modifier == "not")


def _date(criterion: ValueCriterion) -> Clause:
    alternatives: list[Condition] = []
    cost = 0.0
    for raw in criterion.values:
        value = unescape(raw).strip()
        prefix = "eq"
        if value[:2].isalpha():
            prefix, value = value[:2], value[2:]
            if prefix not in PREFIXES:
                raise invalid(criterion, f"unknown prefix {prefix!r} (use one of {', '.join(PREFIXES)})")
        interval = parse_interval(value)
        if interval is None:
            raise invalid(
                criterion, f"{value[:40]!r} is not a FHIR date, such as 2024, 2024-05 or 2024-05-01T10:00Z"
            )
        alternatives.extend(date_conditions(criterion.param.name, prefix, interval))
        cost += 300.0 if prefix == "eq" else 5_000.0
    return Clause(criterion.expression, alternatives, cost)


def _reference(criterion: ValueCriterion, own_bases: Sequence[str]) -> Clause:
    param, modifier = criterion.param, criterion.modifier
    name = param.name
    alternatives: list[Condition] = []
    if modifier == "identifier":
        for raw in criterion.values:
            system, value = _token_parts(raw)
            if system is None:
                alternatives.append(_any(param, (k.identifier_code_key(name, value),)))
            elif not value:
                alternatives.append(_range(param, k.identifier_key(name, system, "")))
            else:
                alternatives.append(_any(param, (k.identifier_key(name, system, value),)))
        return Clause(criterion.expression, alternatives, EXACT_COST * len(alternatives))
    targets = (modifier,) if modifier else param.targets
    for raw in criterion.values:
        value = unescape(raw).strip()
        if "/" not in value and not value.startswith("urn:"):
            # A bare id: the reference may point to any of the parameter's target types. (`urn:uuid:…`,
            # `urn:shl:…` have no slash either, yet are whole references.)
            alternatives.append(_any(param, tuple(k.value_key(name, f"{t}/{value}") for t in targets)))
            continue
        normalized = normalize_reference(value, own_bases)
        if normalized is None:
            raise invalid(
                criterion, f"{value[:60]!r} is not a reference (Type/id, an id, or an absolute URL)"
            )
        if modifier and not normalized.startswith(f"{modifier}/"):
            raise invalid(criterion, f"the reference {value[:60]!r} is not of type {modifier}")
        # Without FHIR_PUBLIC_BASE_URL an absolute reference to this server was indexed verbatim.
        forms = dict.fromkeys([normalized, value])
        alternatives.append(_any(param, tuple(k.value_key(name, form) for form in forms)))
    return Clause(criterion.expression, alternatives, EXACT_COST * len(alternatives))


def _uri(criterion: ValueCriterion) -> Clause:
    name = criterion.param.name
    alternatives: list[Condition] = []
    for raw in criterion.values:
        value = unescape(raw).strip()
        if criterion.modifier == "below":
            alternatives.append(_range(criterion.param, k.value_key(name, value)))
        elif criterion.modifier == "above":
            alternatives.append(
                _any(criterion.param, tuple(k.value_key(name, v) for v in _uri_ancestors(value)))
            )
        else:
            alternatives.append(_any(criterion.param, (k.value_key(name, value),)))
    unit = LOW_CARDINALITY_COST if criterion.param.low_cardinality else 10.0
    return Clause(criterion.expression, alternatives, unit * len(alternatives))


def _uri_ancestors(uri: str) -> list[str]:
    """The uri and each uri obtained by dropping trailing path segments (`:above`)."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return [uri]
    authority, _, path = rest.partition("/")
    segments = [s for s in path.split("/") if s]
    root = f"{scheme}://{authority}"
    found = [uri]
    for end in range(len(segments) - 1, -1, -1):
        candidate = "/".join([root, *segments[:end]])
        if candidate not in found:
            found.append(candidate)
    return found
