"""Write-time terminology binding checks for the resources this server stores.

Only bindings the server enforces are checked; structure and cardinality are the model's job, so
a value of the wrong shape is skipped here rather than reported twice.

Severity follows the binding strength: required -> error (reject the write), extensible -> warning.
Endpoint.connectionType is extensible in base R4, but the federation cannot reach an endpoint
whose protocol it does not know, so this server profiles it as required.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from terminology.service import TerminologyService
from terminology.systems import (
    ADMINISTRATIVE_GENDER_SYSTEM,
    ADMINISTRATIVE_GENDER_VALUESET,
    DCM_SYSTEM,
    DICOM_CID29_VALUESET,
    ENDPOINT_CONNECTION_TYPE_SYSTEM,
    ENDPOINT_CONNECTION_TYPE_VALUESET,
    ENDPOINT_STATUS_SYSTEM,
    ENDPOINT_STATUS_VALUESET,
    IMAGINGSTUDY_STATUS_SYSTEM,
    IMAGINGSTUDY_STATUS_VALUESET,
)

Severity = Literal["error", "warning"]
_MAX_LISTED_CODES = 20


@dataclass(frozen=True, slots=True)
class BindingIssue:
    severity: Severity
    expression: str  # FHIRPath-like location with indexes, e.g. "ImagingStudy.series[0].modality"
    diagnostics: str
    code: str = "code-invalid"  # OperationOutcome.issue.code, so the caller need not choose one


def check_bindings(resource: dict[str, Any], service: TerminologyService) -> list[BindingIssue]:
    """Binding problems of `resource`; an empty list means every checked binding is satisfied.

    TerminologyError from the service (e.g. an external server being down) propagates: whether a
    write may proceed unchecked is the caller's policy, not this function's.
    """
    checker = _CHECKERS.get(str(resource.get("resourceType")))
    return list(checker(resource, service)) if checker else []


def _patient(resource: dict[str, Any], service: TerminologyService) -> Iterator[BindingIssue]:
    yield from _required_code(
        service,
        "Patient.gender",
        resource.get("gender"),
        ADMINISTRATIVE_GENDER_VALUESET,
        ADMINISTRATIVE_GENDER_SYSTEM,
    )
    for index, contact in _indexed(resource.get("contact")):
        yield from _required_code(
            service,
            f"Patient.contact[{index}].gender",
            contact.get("gender"),
            ADMINISTRATIVE_GENDER_VALUESET,
            ADMINISTRATIVE_GENDER_SYSTEM,
        )


def _imaging_study(resource: dict[str, Any], service: TerminologyService) -> Iterator[BindingIssue]:
    yield from _required_code(
        service,
        "ImagingStudy.status",
        resource.get("status"),
        IMAGINGSTUDY_STATUS_VALUESET,
        IMAGINGSTUDY_STATUS_SYSTEM,
    )
    for index, coding in _indexed(resource.get("modality")):
        yield from _modality(service, f"ImagingStudy.modality[{index}]", coding)
    for index, series in _indexed(resource.get("series")):
        modality = series.get("modality")
        if isinstance(modality, dict):
            yield from _modality(service, f"ImagingStudy.series[{index}].modality", modality)


def _endpoint(resource: dict[str, Any], service: TerminologyService) -> Iterator[BindingIssue]:
    yield from _required_code(
        service, "Endpoint.status", resource.get("status"), ENDPOINT_STATUS_VALUESET, ENDPOINT_STATUS_SYSTEM
    )
    connection_type = resource.get("connectionType")
    if isinstance(connection_type, dict):
        yield from _required_coding(
            service,
            "Endpoint.connectionType",
            connection_type,
            ENDPOINT_CONNECTION_TYPE_VALUESET,
            ENDPOINT_CONNECTION_TYPE_SYSTEM,
        )


def _required_code(
    service: TerminologyService, expression: str, code: Any, value_set: str, system: str
) -> Iterator[BindingIssue]:
    if not isinstance(code, str):
        return
    outcome = service.validate_code(url=value_set, system=system, code=code)
    if not outcome.result:
        yield _not_in_value_set(service, expression, code, value_set)


def _required_coding(
    service: TerminologyService, expression: str, coding: dict[str, Any], value_set: str, system: str
) -> Iterator[BindingIssue]:
    code, coding_system = coding.get("code"), coding.get("system")
    if coding_system != system:
        yield BindingIssue(
            "error",
            expression,
            f"{expression}: system must be {system} (required binding to {value_set}), got {coding_system!r}",
        )
        return
    if not isinstance(code, str):
        return
    outcome = service.validate_code(url=value_set, system=system, code=code)
    if not outcome.result:
        yield _not_in_value_set(service, expression, code, value_set)
        return
    yield from _display_warning(service, expression, coding, value_set)


def _modality(service: TerminologyService, expression: str, coding: dict[str, Any]) -> Iterator[BindingIssue]:
    # Extensible binding to CID 29: any real DCM code is acceptable (an SR or SEG series has no
    # acquisition modality), and another system is allowed but worth flagging.
    code, system = coding.get("code"), coding.get("system")
    if system != DCM_SYSTEM:
        yield BindingIssue(
            "warning",
            expression,
            f"{expression}: modality system {system!r} is not {DCM_SYSTEM} (extensible binding to "
            f"{DICOM_CID29_VALUESET})",
        )
        return
    if not isinstance(code, str):
        return
    outcome = service.validate_code(system=DCM_SYSTEM, code=code)
    if not outcome.result:
        yield BindingIssue(
            "warning",
            expression,
            f"{expression}: {code!r} is not a known DICOM modality code ({outcome.message})",
        )
        return
    yield from _display_warning(service, expression, coding, None)


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
    service: TerminologyService, expression: str, code: str, value_set: str
) -> BindingIssue:
    diagnostics = f"{expression}: {code!r} is not in the required value set {value_set}"
    return BindingIssue("error", expression, diagnostics + _allowed_codes(service, value_set))


def _allowed_codes(service: TerminologyService, value_set: str) -> str:
    # Only reached on failure, so the extra expansion costs nothing on the happy path.
    expansion = service.expand(value_set, count=_MAX_LISTED_CODES).get("expansion", {})
    codes = [item["code"] for item in expansion.get("contains", []) if "code" in item]
    if not codes:
        return ""
    more = " | ..." if expansion.get("total", 0) > len(codes) else ""
    return f" (allowed: {' | '.join(codes)}{more})"


def _indexed(items: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield index, item


_CHECKERS: dict[str, Callable[[dict[str, Any], TerminologyService], Iterator[BindingIssue]]] = {
    "Patient": _patient,
    "ImagingStudy": _imaging_study,
    "Endpoint": _endpoint,
}
