"""The `$validate-code` core: checking codings against a ValueSet or CodeSystem index."""

from collections.abc import Mapping
from typing import Any

from terminology.codesystem_index import CodeSystemIndex, ConceptRecord
from terminology.errors import TerminologyError
from terminology.results import ValidationResult
from terminology.valueset_index import ValueSetIndex

_Coding = dict[str, Any]
# None means "no value set or code system named": each coding is checked against its own system.
ValidationTarget = ValueSetIndex | CodeSystemIndex | None


def validate_codings(
    target: ValidationTarget, codings: list[_Coding], code_systems: Mapping[str, CodeSystemIndex]
) -> ValidationResult:
    """Valid when any coding is valid (R4 codeableConcept semantics; a single coding is a list of one)."""
    if not codings:
        return ValidationResult(False, "The CodeableConcept has no coding to validate")
    outcomes = [_validate_coding(target, coding, code_systems) for coding in codings]
    valid = [outcome for outcome in outcomes if outcome.result]
    if valid:
        return ValidationResult(True, None, valid[0].display)
    messages = [outcome.message for outcome in outcomes if outcome.message]
    display_hint = next((outcome.display for outcome in outcomes if outcome.display), None)
    return ValidationResult(False, "; ".join(messages) or None, display_hint)


def codings_to_validate(
    system: str | None,
    code: str | None,
    display: str | None,
    coding: _Coding | None,
    codeable_concept: dict[str, Any] | None,
) -> list[_Coding]:
    given = [
        name
        for name, value in (("code", code), ("coding", coding), ("codeableConcept", codeable_concept))
        if value is not None
    ]
    if len(given) != 1:
        raise TerminologyError(
            "invalid",
            "Exactly one of code, coding or codeableConcept is required, got " + (", ".join(given) or "none"),
        )
    if codeable_concept is not None:
        return list(codeable_concept.get("coding", []))
    if coding is not None:
        return [coding]
    return [{"system": system, "code": code, "display": display}]


def _validate_coding(
    target: ValidationTarget, coding: _Coding, code_systems: Mapping[str, CodeSystemIndex]
) -> ValidationResult:
    system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
    if not code:
        return ValidationResult(False, "A coding without a code cannot be validated")
    if isinstance(target, ValueSetIndex):
        return _validate_in_value_set(target, system, code, display, code_systems)
    code_system = target if isinstance(target, CodeSystemIndex) else None
    if code_system is None:
        if not system:
            return ValidationResult(False, f"Code {code!r} has no system and no value set was given")
        code_system = code_systems.get(system)
        if code_system is None:
            return ValidationResult(False, f"CodeSystem {system} is not known to this server")
    if system and system != code_system.url:
        return ValidationResult(False, f"Code {code!r} is from {system}, not from {code_system.url}")
    record = code_system.find(code)
    if record is None:
        return ValidationResult(False, _unknown_code_message(code_system, code))
    return _check_display(record, code_system.url, display, record.display)


def _validate_in_value_set(
    value_set: ValueSetIndex,
    system: str | None,
    code: str,
    display: str | None,
    code_systems: Mapping[str, CodeSystemIndex],
) -> ValidationResult:
    if not system:
        # R4 wants a system with a code; inferring it is safe only when the value set has one.
        if len(value_set.systems) != 1:
            return ValidationResult(False, f"Code {code!r} has no system; {value_set.url} needs one")
        (system,) = value_set.systems
    code_system = code_systems.get(system)
    record = code_system.find(code) if code_system else None
    entry = value_set.find(system, code)
    if entry is None:
        return ValidationResult(
            False,
            f"The code {code!r} from system {system} is not in the value set {value_set.url}",
            record.display if record else None,
        )
    if record is None:
        # Listed by the value set but the code system is absent or a fragment: trust the list.
        if display and entry.display and not _same_display(display, entry.display):
            return ValidationResult(
                False, _display_message(display, entry.display, system, code), entry.display
            )
        return ValidationResult(True, None, entry.display)
    return _check_display(record, system, display, entry.display or record.display)


def _check_display(
    record: ConceptRecord, system: str, display: str | None, preferred: str | None
) -> ValidationResult:
    if not display:
        return ValidationResult(True, None, preferred or record.display)
    # R4 $validate-code: result is whether "the concept details supplied are valid", and a
    # wrong display is a wrong detail. So a mismatch is result=false, with the right display.
    shown = preferred or record.display
    if not record.accepts_display(display) and not (preferred and _same_display(display, preferred)):
        return ValidationResult(False, _display_message(display, shown, system, record.code), shown)
    return ValidationResult(True, None, shown)


def _same_display(left: str, right: str) -> bool:
    return " ".join(left.split()).casefold() == " ".join(right.split()).casefold()


def _display_message(given: str, expected: str | None, system: str, code: str) -> str:
    return f"The display {given!r} is not a valid display for {system}#{code}; expected {expected!r}"


def _unknown_code_message(code_system: CodeSystemIndex, code: str) -> str:
    message = f"Unknown code {code!r} in CodeSystem {code_system.url}"
    if not code_system.is_complete:
        message += f" (this server holds only a {code_system.content} of that code system)"
    return message
