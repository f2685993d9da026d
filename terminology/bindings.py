"""Write-time terminology binding checks for the resources this server stores.

Only bindings the server enforces are checked; structure and cardinality are the model's job, so
a value of the wrong shape is skipped here rather than reported twice.

The bindings are data, not code: `data/bindings.json` has one row per bound element (its path,
with `[*]` on repeating elements, the value set, the code system, the datatype, the strength, and
any local decision with its reason). One walker applies every row, so adding a binding is a new row.
The table is read and validated once per process; a malformed row fails at load, naming the row.

Severity follows the binding strength: required -> error (reject the write), extensible -> warning.
Endpoint.connectionType is extensible in base R4, but the federation cannot reach an endpoint
whose protocol it does not know, so this server profiles it as required.
The modality bindings are extensible to CID 29, but any real DCM code is accepted (an SR or SEG
series has no acquisition modality), and another code system only gives a warning.
"""

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any, Final, Literal, TypeVar

from terminology.errors import ShippedDataError
from terminology.loader import BINDINGS_FILE, data_file
from terminology.service import TerminologyService

Severity = Literal["error", "warning"]
Strength = Literal["required", "extensible"]
ElementType = Literal["code", "Coding"]
# value-set: the code must be in the bound value set. code-system: any code the bound code system
# knows is accepted (a local decision, e.g. for the modality bindings).
Accepts = Literal["value-set", "code-system"]

_MAX_LISTED_CODES = 20
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class BindingIssue:
    severity: Severity
    expression: str  # FHIRPath-like location with indexes, e.g. "ImagingStudy.series[0].modality"
    diagnostics: str
    code: str = "code-invalid"  # OperationOutcome.issue.code, so the caller need not choose one


@dataclass(frozen=True, slots=True)
class Step:
    """One element name on a binding's path; `repeats` when the path spells it `name[*]`."""

    name: str
    repeats: bool


@dataclass(frozen=True, slots=True)
class Binding:
    """One row of `data/bindings.json`, validated."""

    path: str  # e.g. "ImagingStudy.series[*].modality"
    resource_type: str
    steps: tuple[Step, ...]
    type: ElementType
    strength: Strength
    base_strength: Strength  # what base R4 says; differs where this server profiles the element
    value_set: str
    system: str
    accepts: Accepts
    label: str = ""  # the element's name in diagnostics ("modality"); accepts=code-system only
    system_label: str = ""  # the code system's name in diagnostics ("DICOM"); accepts=code-system only
    comment: str = ""

    @property
    def severity(self) -> Severity:
        return _SEVERITY[self.strength]


_SEVERITY: Final[Mapping[Strength, Severity]] = {"required": "error", "extensible": "warning"}


def check_bindings(resource: dict[str, Any], service: TerminologyService) -> list[BindingIssue]:
    """Binding problems of `resource`; an empty list means every checked binding is satisfied.

    TerminologyError from the service (e.g. an external server being down) propagates: whether a
    write may proceed unchecked is the caller's policy, not this function's.
    """
    issues: list[BindingIssue] = []
    for binding in bindings_for(str(resource.get("resourceType"))):
        for expression, value in locate(resource, binding):
            issues.extend(_check(service, binding, expression, value))
    return issues


def bindings_for(resource_type: str) -> tuple[Binding, ...]:
    """The enforced bindings of `resource_type`, in table order; none for a type without a row."""
    return load_bindings().get(resource_type, ())


def locate(resource: dict[str, Any], binding: Binding) -> Iterator[tuple[str, Any]]:
    """Every value at `binding.path` in `resource`, with its expression (real indexes for `[*]`).

    Only a list is walked at a `[*]` step, and only an object is walked into; anything else is a
    structural problem the model reports, so it is skipped here.
    """
    yield from _walk(resource, binding.steps, binding.resource_type)


def _walk(node: dict[str, Any], steps: tuple[Step, ...], expression: str) -> Iterator[tuple[str, Any]]:
    step, rest = steps[0], steps[1:]
    value = node.get(step.name)
    if step.repeats:
        if not isinstance(value, list):
            return
        found = [(f"{expression}.{step.name}[{index}]", item) for index, item in enumerate(value)]
    else:
        found = [(f"{expression}.{step.name}", value)]
    for location, item in found:
        if not rest:
            yield location, item
        elif isinstance(item, dict):
            yield from _walk(item, rest, location)


def _check(
    service: TerminologyService, binding: Binding, expression: str, value: Any
) -> Iterator[BindingIssue]:
    if binding.type == "code":
        if isinstance(value, str):
            yield from _check_code(service, binding, expression, value)
    elif isinstance(value, dict):
        yield from _check_coding(service, binding, expression, value)


def _check_code(
    service: TerminologyService, binding: Binding, expression: str, code: str
) -> Iterator[BindingIssue]:
    outcome = service.validate_code(url=binding.value_set, system=binding.system, code=code)
    if not outcome.result:
        yield _not_in_value_set(service, binding, expression, code)


def _check_coding(
    service: TerminologyService, binding: Binding, expression: str, coding: dict[str, Any]
) -> Iterator[BindingIssue]:
    code, system = coding.get("code"), coding.get("system")
    if system != binding.system:
        yield BindingIssue(
            binding.severity, expression, _other_system_diagnostics(binding, expression, system)
        )
        return
    if not isinstance(code, str):
        return
    if binding.accepts == "value-set":
        outcome = service.validate_code(url=binding.value_set, system=binding.system, code=code)
        if not outcome.result:
            yield _not_in_value_set(service, binding, expression, code)
            return
        yield from _display_warning(service, expression, coding, binding.value_set)
        return
    # accepts code-system: any code the system knows passes, in the value set or not, and its display
    # is checked against the code system alone.
    outcome = service.validate_code(system=binding.system, code=code)
    if not outcome.result:
        yield BindingIssue(
            binding.severity,
            expression,
            f"{expression}: {code!r} is not a known {binding.system_label} {binding.label} code "
            f"({outcome.message})",
        )
        return
    yield from _display_warning(service, expression, coding, None)


def _other_system_diagnostics(binding: Binding, expression: str, system: Any) -> str:
    if binding.accepts == "value-set":
        return (
            f"{expression}: system must be {binding.system} ({binding.strength} binding to "
            f"{binding.value_set}), got {system!r}"
        )
    return (
        f"{expression}: {binding.label} system {system!r} is not {binding.system} ({binding.strength} "
        f"binding to {binding.value_set})"
    )


def _display_warning(
    service: TerminologyService, expression: str, coding: dict[str, Any], value_set: str | None
) -> Iterator[BindingIssue]:
    # A wrong display never blocks a write: the code carries the meaning, the display is a label.
    if not coding.get("display"):
        return
    outcome = service.validate_code(url=value_set, coding=coding)
    if not outcome.result:
        yield BindingIssue("warning", f"{expression}.display", f"{expression}.display: {outcome.message}")


def _not_in_value_set(
    service: TerminologyService, binding: Binding, expression: str, code: str
) -> BindingIssue:
    diagnostics = f"{expression}: {code!r} is not in the {binding.strength} value set {binding.value_set}"
    return BindingIssue(
        binding.severity, expression, diagnostics + _allowed_codes(service, binding.value_set)
    )


def _allowed_codes(service: TerminologyService, value_set: str) -> str:
    # Only reached on failure, so the extra expansion costs nothing on the happy path.
    expansion = service.expand(value_set, count=_MAX_LISTED_CODES).get("expansion", {})
    codes = [item["code"] for item in expansion.get("contains", []) if "code" in item]
    if not codes:
        return ""
    more = " | ..." if expansion.get("total", 0) > len(codes) else ""
    return f" (allowed: {' | '.join(codes)}{more})"


# --- The binding table ---

_STRENGTHS: Final[Mapping[str, Strength]] = {"required": "required", "extensible": "extensible"}
_TYPES: Final[Mapping[str, ElementType]] = {"code": "code", "Coding": "Coding"}
_ACCEPTS: Final[Mapping[str, Accepts]] = {"value-set": "value-set", "code-system": "code-system"}
# What the walker implements. A code element binds required in R4; the modality rule (any code of
# the system, foreign systems warned) is the only extensible check this server makes.
_IMPLEMENTED: Final = frozenset(
    {
        ("code", "required", "value-set"),
        ("Coding", "required", "value-set"),
        ("Coding", "extensible", "code-system"),
    }
)
_REQUIRED_FIELDS: Final = ("path", "type", "strength", "baseStrength", "valueSet", "system", "accepts")
_FIELDS: Final = frozenset({*_REQUIRED_FIELDS, "label", "systemLabel", "comment"})
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]*")
_STEP = re.compile(r"([a-z][A-Za-z0-9]*)(\[\*\])?")


@cache
def load_bindings() -> Mapping[str, tuple[Binding, ...]]:
    """The shipped binding table by resource type, read and validated once per process."""
    entry = data_file(BINDINGS_FILE)
    try:
        document = json.loads(entry.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ShippedDataError(f"{BINDINGS_FILE}: not valid JSON: {exc}") from exc
    return parse_bindings(document, BINDINGS_FILE)


def parse_bindings(document: Any, origin: str) -> Mapping[str, tuple[Binding, ...]]:
    """Validate a binding table, `{"description": ..., "bindings": [rows]}`, grouped by resource type.

    A malformed table raises ShippedDataError naming `origin` and the row (index and path).
    """
    if not isinstance(document, dict) or not isinstance(document.get("bindings"), list):
        raise ShippedDataError(f'{origin}: expected an object with a "bindings" list')
    if unknown := sorted(document.keys() - {"description", "bindings"}):
        raise ShippedDataError(f"{origin}: unknown top-level field(s) {', '.join(unknown)}")
    by_type: dict[str, list[Binding]] = {}
    seen: set[str] = set()
    for index, row in enumerate(document["bindings"]):
        binding = _parse_row(row, f"{origin} bindings[{index}]")
        if binding.path in seen:
            raise ShippedDataError(f"{origin} bindings[{index}] ({binding.path}): duplicate path")
        seen.add(binding.path)
        by_type.setdefault(binding.resource_type, []).append(binding)
    return MappingProxyType({resource_type: tuple(rows) for resource_type, rows in by_type.items()})


def _parse_row(row: Any, where: str) -> Binding:
    if not isinstance(row, dict):
        raise ShippedDataError(f"{where}: expected an object, got {type(row).__name__}")
    if isinstance(row.get("path"), str):
        where = f"{where} ({row['path']})"
    if unknown := sorted(row.keys() - _FIELDS):
        raise ShippedDataError(f"{where}: unknown field(s) {', '.join(unknown)}")
    if missing := [name for name in _REQUIRED_FIELDS if name not in row]:
        raise ShippedDataError(f"{where}: missing field(s) {', '.join(missing)}")
    for name in sorted(_FIELDS & row.keys()):
        if not isinstance(row[name], str) or not row[name].strip():
            raise ShippedDataError(f"{where}: {name} must be a non-empty string, got {row[name]!r}")
    resource_type, steps = _parse_path(row["path"], where)
    binding = Binding(
        path=row["path"],
        resource_type=resource_type,
        steps=steps,
        type=_choice(row, "type", _TYPES, where),
        strength=_choice(row, "strength", _STRENGTHS, where),
        base_strength=_choice(row, "baseStrength", _STRENGTHS, where),
        value_set=row["valueSet"],
        system=row["system"],
        accepts=_choice(row, "accepts", _ACCEPTS, where),
        label=row.get("label", ""),
        system_label=row.get("systemLabel", ""),
        comment=row.get("comment", ""),
    )
    if (binding.type, binding.strength, binding.accepts) not in _IMPLEMENTED:
        raise ShippedDataError(
            f"{where}: type {binding.type}, strength {binding.strength}, accepts {binding.accepts} is "
            "not implemented (implemented: "
            + ", ".join(f"{t}/{s}/{a}" for t, s, a in sorted(_IMPLEMENTED))
            + ")"
        )
    labelled = bool(binding.label) and bool(binding.system_label)
    if binding.accepts == "code-system" and not labelled:
        raise ShippedDataError(
            f"{where}: accepts code-system needs label and systemLabel for its diagnostics"
        )
    if binding.accepts == "value-set" and (binding.label or binding.system_label):
        raise ShippedDataError(f"{where}: label and systemLabel are only used when accepts is code-system")
    if (
        binding.strength != binding.base_strength or binding.accepts == "code-system"
    ) and not binding.comment:
        raise ShippedDataError(f"{where}: a local decision (strength or accepts) needs a comment saying why")
    return binding


def _parse_path(path: str, where: str) -> tuple[str, tuple[Step, ...]]:
    resource_type, *names = path.split(".")
    if not _RESOURCE_TYPE.fullmatch(resource_type) or not names:
        raise ShippedDataError(f"{where}: path must be ResourceType.element[.element...], got {path!r}")
    steps: list[Step] = []
    for name in names:
        match = _STEP.fullmatch(name)
        if match is None:
            raise ShippedDataError(f"{where}: path step {name!r} is not an element name, optionally with [*]")
        steps.append(Step(match[1], match[2] is not None))
    return resource_type, tuple(steps)


def _choice(row: dict[str, Any], name: str, options: Mapping[str, _T], where: str) -> _T:
    value = row[name]
    if value not in options:
        raise ShippedDataError(f"{where}: {name} must be one of {', '.join(options)}, got {value!r}")
    return options[value]
