"""The one registry of search parameters (https://hl7.org/fhir/R4/searchparameter-registry.html).

Each entry names the R4 parameter, its type, a FHIRPath-like expression that `fhir_server.search.paths`
evaluates to extract values on write, the reference targets, and its canonical definition. Extraction,
query parsing and the CapabilityStatement's `searchParam` lists are all generated from this table, so
the server cannot advertise a parameter it does not index.

The table is data shipped in the package (`data/`), read and checked once at import:

- `search-parameters.json`: the R4 (4.0.1) SearchParameter definitions we support, a Bundle in the shape of
  the spec's `search-parameters.json`, trimmed to our types: `base` keeps only `Resource` or our type, the
  `expression` only its paths for that base, a multi-resource `description` only that base's line.
- `search-parameters-overlay.json`: our decisions over them, per `Base.code` (its `description` says which).

`SEARCH_PARAMETERS` holds the types of the FHIR repository (the overlay's `resource_types`). The overlay's
`standalone_types` (AuditEvent: the audit log) are searched through the same parser and compiler but live
outside that repository, so they stay out of it: no chain, `_has` or include reaches them from a search of
patient data, and the CapabilityStatement's lists stay the repository's. `parameters_of` knows both.

A definition that is not in the overlay, or an overlay entry without a definition, stops the import: the
server serves every parameter of the Bundle and nothing else, and each needs our decisions to be indexed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from importlib.resources import files
from typing import Literal, TypeVar, get_args

from fhir_server.search.keys import renamed
from fhir_server.search.paths import compile_expression

ParamType = Literal["string", "token", "date", "reference", "uri"]
# How values are read from the elements the expression selects (token/string need the element type).
Datatype = Literal[
    "string",
    "HumanName",
    "Address",
    "CodeableConcept",
    "Coding",
    "Identifier",
    "ContactPoint",
    "code",
    "boolean",
    "id",
    "uri",
    "date",
    "Reference",
]
Derivation = Literal["phonetic", "deceased"]

SPEC = "http://hl7.org/fhir/SearchParameter/"
DEFINITIONS_FILE = "search-parameters.json"
OVERLAY_FILE = "search-parameters-overlay.json"
# The base of the parameters every resource type has (`_id`, `_lastUpdated`, `_tag`, …).
RESOURCE_BASE = "Resource"


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: ParamType
    expression: str
    description: str
    definition: str
    datatype: Datatype
    targets: tuple[str, ...] = ()
    # Implicit system of a `code` element, so `gender=http://hl7.org/fhir/administrative-gender|male` works.
    code_system: str | None = None
    derive: Derivation | None = None
    # A handful of values shared by most resources: never the first choice to drive a query.
    low_cardinality: bool = False
    # Another parameter of the type whose values include all of this one's (the same expression, narrowed by
    # a `where`, or a part of the same element): this parameter's keys are kept for testing candidates but
    # not indexed, and searches on it are driven by the same keys under that parameter's name. Every index
    # key costs the database a B-tree insert on every write (see `fhir_server.search.keys`).
    indexed_as: str | None = None

    def driving(self, key: str) -> str:
        """The indexed key that drives a search for one of this parameter's keys: the key itself, or the same
        key under the `indexed_as` parameter's name."""
        return key if self.indexed_as is None else renamed(key, self.indexed_as)


class RegistryDataError(ValueError):
    """The shipped search parameter data is unusable; the message names the file and the entry."""


@dataclass(frozen=True)
class _Definition:
    """What the registry reads of one R4 SearchParameter. The rest is kept as the spec has it but not read:
    `comparator` and `modifier` among it, as the engine accepts prefixes and modifiers per parameter type."""

    id: str
    url: str
    code: str
    base: tuple[str, ...]
    type: ParamType
    expression: str
    description: str
    target: tuple[str, ...]


_PARAM_TYPES: tuple[ParamType, ...] = get_args(ParamType)
_DATATYPES: tuple[Datatype, ...] = get_args(Datatype)
_DERIVATIONS: tuple[Derivation, ...] = get_args(Derivation)
_OVERLAY_FIELDS = frozenset(
    {"datatype", "code_system", "derive", "low_cardinality", "indexed_as", "expression", "description", "why"}
)
# The code is the parameter's name in queries (`name:modifier=value`) and the prefix of its index keys
# (`fhir_server.search.keys`): a `:` or `=` in it would break both.
_CODE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_L = TypeVar("_L", bound=str)


def load_parameters(
    definitions: object, overlay: object
) -> tuple[tuple[SearchParam, ...], dict[str, tuple[SearchParam, ...]]]:
    """The parameters of every type (base `Resource`), and per type of the overlay's `resource_types` (in
    that order) the type's own, each in the Bundle's order: the registry's order is the data's. Raises
    RegistryDataError naming the file and the entry at the first problem."""
    parsed = _definitions(definitions)
    root = _mapping(overlay, OVERLAY_FILE)
    _only_keys(root, {"description", "resource_types", "standalone_types", "parameters"}, OVERLAY_FILE)
    resource_types = _strings(root.get("resource_types"), f"{OVERLAY_FILE}: resource_types")
    if not resource_types or len(set(resource_types)) != len(resource_types):
        raise RegistryDataError(f"{OVERLAY_FILE}: resource_types must list each type once")
    standalone = standalone_types(overlay)
    if set(standalone) & set(resource_types):
        raise RegistryDataError(f"{OVERLAY_FILE}: a standalone type is not one of resource_types too")
    resource_types += standalone
    decisions = dict(_mapping(root.get("parameters"), f"{OVERLAY_FILE}: parameters"))
    common: list[SearchParam] = []
    own: dict[str, list[SearchParam]] = {resource_type: [] for resource_type in resource_types}
    for definition in parsed:
        for base in definition.base:
            if base != RESOURCE_BASE and base not in own:
                raise RegistryDataError(
                    f"{DEFINITIONS_FILE}: SearchParameter {definition.id}: base {base!r} is not one of "
                    f"{OVERLAY_FILE}'s resource_types (trim the base, or add the type)"
                )
            key = f"{base}.{definition.code}"
            if key not in decisions:
                raise RegistryDataError(
                    f"{OVERLAY_FILE}: no entry {key!r} for SearchParameter {definition.id} of "
                    f"{DEFINITIONS_FILE}"
                )
            param = _param(definition, base, decisions.pop(key), f"{OVERLAY_FILE}: parameters[{key!r}]")
            (common if base == RESOURCE_BASE else own[base]).append(param)
    if decisions:
        raise RegistryDataError(
            f"{OVERLAY_FILE}: parameters {sorted(decisions)} have no SearchParameter in {DEFINITIONS_FILE} "
            "(keys are `Base.code`)"
        )
    return tuple(common), {resource_type: tuple(params) for resource_type, params in own.items()}


def standalone_types(overlay: object) -> list[str]:
    """The overlay's `standalone_types` (see the module's docstring), each once."""
    where = f"{OVERLAY_FILE}: standalone_types"
    types = _strings(_mapping(overlay, OVERLAY_FILE).get("standalone_types", []), where)
    if len(set(types)) != len(types):
        raise RegistryDataError(f"{where} must list each type once")
    return types


def build_registry(definitions: object, overlay: object) -> dict[str, dict[str, SearchParam]]:
    """The registry (`SEARCH_PARAMETERS`) the two files describe, checked: the repository's types."""
    common, own = load_parameters(definitions, overlay)
    standalone = standalone_types(overlay)
    return _assemble(common, {t: params for t, params in own.items() if t not in standalone})


def build_standalone(definitions: object, overlay: object) -> dict[str, dict[str, SearchParam]]:
    """The parameters of the overlay's `standalone_types` (`STANDALONE_PARAMETERS`), checked."""
    common, own = load_parameters(definitions, overlay)
    return _assemble(common, {t: own[t] for t in standalone_types(overlay)})


def _definitions(bundle: object) -> list[_Definition]:
    root = _mapping(bundle, DEFINITIONS_FILE)
    if root.get("resourceType") != "Bundle":
        raise RegistryDataError(f"{DEFINITIONS_FILE}: not a Bundle")
    entries = root.get("entry")
    if not isinstance(entries, list):
        raise RegistryDataError(f"{DEFINITIONS_FILE}: Bundle.entry must be a list")
    parsed: list[_Definition] = []
    seen_urls: set[str] = set()
    seen_codes: set[tuple[str, str]] = set()
    for index, entry in enumerate(entries):
        definition = _definition(entry, f"{DEFINITIONS_FILE}: entry {index}")
        where = f"{DEFINITIONS_FILE}: SearchParameter {definition.id}"
        if definition.url in seen_urls:
            raise RegistryDataError(f"{where}: url {definition.url} is defined twice")
        seen_urls.add(definition.url)
        for base in definition.base:
            if (base, definition.code) in seen_codes:
                raise RegistryDataError(f"{where}: a second definition of {base}.{definition.code}")
            seen_codes.add((base, definition.code))
        parsed.append(definition)
    return parsed


def _definition(entry: object, where: str) -> _Definition:
    resource = _mapping(_mapping(entry, where).get("resource"), f"{where}: resource")
    if resource.get("resourceType") != "SearchParameter":
        raise RegistryDataError(f"{where}: resource is not a SearchParameter")
    id_ = _string(resource.get("id"), f"{where}: id")
    where = f"{DEFINITIONS_FILE}: SearchParameter {id_}"
    url = _string(resource.get("url"), f"{where}: url")
    code = _string(resource.get("code"), f"{where}: code")
    if not _CODE.match(code):
        raise RegistryDataError(f"{where}: code {code!r} is not usable as a parameter name")
    base = tuple(_strings(resource.get("base"), f"{where}: base"))
    if not base:
        raise RegistryDataError(f"{where}: base is empty")
    type_ = _choice(resource.get("type"), _PARAM_TYPES, f"{where}: type")
    expression = _string(resource.get("expression"), f"{where}: expression")
    _check_paths(expression, base, f"{where}: expression")
    description = _string(resource.get("description"), f"{where}: description")
    target: tuple[str, ...] = ()
    if type_ == "reference":
        target = tuple(_strings(resource.get("target"), f"{where}: target"))
        if not target:
            raise RegistryDataError(f"{where}: a reference parameter needs its target types")
    elif "target" in resource:
        raise RegistryDataError(f"{where}: target is for reference parameters only")
    return _Definition(id_, url, code, base, type_, expression, description, target)


def _param(definition: _Definition, base: str, decision: object, where: str) -> SearchParam:
    fields = _mapping(decision, where)
    _only_keys(fields, _OVERLAY_FIELDS, where)
    if "why" in fields:
        _string(fields["why"], f"{where}: why")
    expression = definition.expression
    if "expression" in fields:
        expression = _string(fields["expression"], f"{where}: expression")
        if expression == definition.expression:
            raise RegistryDataError(f"{where}: expression is R4's: drop it")
        # A departure from the spec's meaning is a decision the next reader must be able to look up.
        _string(fields.get("why"), f"{where}: why (an expression other than R4's needs one)")
        _check_paths(expression, (base,), f"{where}: expression")
    try:
        compile_expression(expression)
    except ValueError as exc:
        raise RegistryDataError(f"{where}: expression {expression!r}: {exc}") from exc
    description = definition.description
    if "description" in fields:
        description = _string(fields["description"], f"{where}: description")
        if description == definition.description:
            raise RegistryDataError(f"{where}: description is R4's: drop it")
    datatype = _choice(fields.get("datatype"), _DATATYPES, f"{where}: datatype")
    code_system = None
    if "code_system" in fields:
        code_system = _string(fields["code_system"], f"{where}: code_system")
        if definition.type != "token" or datatype != "code":
            raise RegistryDataError(f"{where}: code_system is for token parameters of datatype code")
    derive = None
    if "derive" in fields:
        derive = _choice(fields["derive"], _DERIVATIONS, f"{where}: derive")
    low_cardinality = fields.get("low_cardinality", False)
    if not isinstance(low_cardinality, bool):
        raise RegistryDataError(f"{where}: low_cardinality must be true or false")
    indexed_as = None
    if "indexed_as" in fields:
        indexed_as = _string(fields["indexed_as"], f"{where}: indexed_as")
    return SearchParam(
        definition.code,
        definition.type,
        expression,
        description,
        definition.url,
        datatype,
        # Sorted: the order the spec lists target types in means nothing, and error messages show them.
        targets=tuple(sorted(definition.target)),
        code_system=code_system,
        derive=derive,
        low_cardinality=low_cardinality,
        indexed_as=indexed_as,
    )


def _check_paths(expression: str, bases: tuple[str, ...], where: str) -> None:
    # Trimmed to our bases, every path of an expression starts at one of them (R4 wraps a few in
    # parentheses, e.g. `(Patient.deceased as dateTime)`).
    for path in expression.split("|"):
        if not path.strip().lstrip("(").startswith(tuple(f"{base}." for base in bases)):
            raise RegistryDataError(f"{where}: path {path.strip()!r} does not start at {' or '.join(bases)}")


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise RegistryDataError(f"{where}: expected a JSON object")
    return value


def _only_keys(value: Mapping[str, object], allowed: AbstractSet[str], where: str) -> None:
    # Our own format is closed: a misspelt decision must not be silently ignored.
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise RegistryDataError(f"{where}: unknown fields {unknown} (allowed: {sorted(allowed)})")


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise RegistryDataError(f"{where}: expected a non-empty string")
    return value


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list):
        raise RegistryDataError(f"{where}: expected a list of strings")
    return [_string(item, where) for item in value]


def _choice(value: object, choices: tuple[_L, ...], where: str) -> _L:
    for choice in choices:
        if value == choice:
            return choice
    raise RegistryDataError(f"{where}: {value!r} is not one of {', '.join(choices)}")


def _load(name: str) -> object:
    text = (files("fhir_server.search") / "data" / name).read_text(encoding="utf-8")
    try:
        data: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryDataError(f"{name}: not JSON: {exc}") from exc
    return data


def _assemble(
    common: tuple[SearchParam, ...], own: Mapping[str, tuple[SearchParam, ...]]
) -> dict[str, dict[str, SearchParam]]:
    registry: dict[str, dict[str, SearchParam]] = {}
    for resource_type, specific in own.items():
        params: dict[str, SearchParam] = {}
        for param in (*common, *specific):
            if param.name in params:
                raise RegistryDataError(
                    f"{resource_type}.{param.name}: defined both for Resource and for the type"
                )
            params[param.name] = param
        registry[resource_type] = params
    for resource_type, params in registry.items():
        for param in params.values():
            # A parameter can only borrow the keys of a parameter whose keys have the same form.
            if param.indexed_as is None:
                continue
            target = params.get(param.indexed_as)
            if target is None or target.type != param.type or target.indexed_as or target.derive:
                raise RegistryDataError(
                    f"{resource_type}.{param.name}: indexed_as {param.indexed_as!r} is unusable"
                )
    return registry


_DEFINITIONS, _OVERLAY = _load(DEFINITIONS_FILE), _load(OVERLAY_FILE)
COMMON, _OWN = load_parameters(_DEFINITIONS, _OVERLAY)
# The parameters of each type besides COMMON, as the hand-written registry before the data files named them.
PATIENT = _OWN.get("Patient", ())
ORGANIZATION = _OWN.get("Organization", ())
IMAGING_STUDY = _OWN.get("ImagingStudy", ())
ENDPOINT = _OWN.get("Endpoint", ())

SEARCH_PARAMETERS: Mapping[str, Mapping[str, SearchParam]] = build_registry(_DEFINITIONS, _OVERLAY)
STANDALONE_PARAMETERS: Mapping[str, Mapping[str, SearchParam]] = build_standalone(_DEFINITIONS, _OVERLAY)


def parameters_of(resource_type: str) -> Mapping[str, SearchParam]:
    if resource_type in SEARCH_PARAMETERS:
        return SEARCH_PARAMETERS[resource_type]
    return STANDALONE_PARAMETERS.get(resource_type, {})


def reference_parameters(resource_type: str) -> list[SearchParam]:
    return [p for p in parameters_of(resource_type).values() if p.type == "reference"]
