"""check_bindings: required bindings are errors, the extensible modality binding only warns."""

from typing import Any

import pytest

from terminology import LocalTerminology, TerminologyError, ValidationResult
from terminology.bindings import BindingIssue, check_bindings

DCM = "http://dicom.nema.org/resources/ontology/DCM"
CONNECTION = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"


def _study(**overrides: Any) -> dict[str, Any]:
    study = {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": {"reference": "Patient/1"},
        "modality": [{"system": DCM, "code": "CT"}],
        "series": [
            {"uid": "1.2.3.1", "modality": {"system": DCM, "code": "CT", "display": "Computed Tomography"}},
            {"uid": "1.2.3.2", "modality": {"system": DCM, "code": "SR"}},
        ],
    }
    return {**study, **overrides}


def _endpoint(**overrides: Any) -> dict[str, Any]:
    endpoint = {
        "resourceType": "Endpoint",
        "status": "active",
        "connectionType": {"system": CONNECTION, "code": "dicom-wado-rs", "display": "DICOM WADO-RS"},
        "payloadType": [{"text": "DICOM"}],
        "address": "https://pacs.example/dicomweb",
    }
    return {**endpoint, **overrides}


def test_valid_resources_have_no_issues(service: LocalTerminology) -> None:
    assert check_bindings({"resourceType": "Patient", "gender": "female"}, service) == []
    assert check_bindings(_study(), service) == []
    assert check_bindings(_endpoint(), service) == []
    assert check_bindings({"resourceType": "Organization", "name": "HOS-001"}, service) == []


def test_wrong_gender_is_an_error_naming_patient_gender(service: LocalTerminology) -> None:
    assert check_bindings({"resourceType": "Patient", "gender": "F"}, service) == [
        BindingIssue(
            "error",
            "Patient.gender",
            "Patient.gender: 'F' is not in the required value set "
            "http://hl7.org/fhir/ValueSet/administrative-gender (allowed: male | female | other | unknown)",
        )
    ]


def test_contact_gender_is_checked_too(service: LocalTerminology) -> None:
    issues = check_bindings(
        {"resourceType": "Patient", "contact": [{"gender": "male"}, {"gender": "x"}]}, service
    )
    assert [(i.severity, i.expression) for i in issues] == [("error", "Patient.contact[1].gender")]


def test_wrong_modality_code_is_a_warning_naming_the_series(service: LocalTerminology) -> None:
    study = _study(series=[{"uid": "1.2.3.1", "modality": {"system": DCM, "code": "CAT"}}])
    issues = check_bindings(study, service)
    assert [(i.severity, i.expression, i.code) for i in issues] == [
        ("warning", "ImagingStudy.series[0].modality", "code-invalid")
    ]
    assert "'CAT' is not a known DICOM modality code" in issues[0].diagnostics


def test_later_edition_codes_and_current_displays_pass_the_extensible_binding(
    service: LocalTerminology,
) -> None:
    study = _study(
        modality=[
            {"system": DCM, "code": "DMS"},
            {"system": DCM, "code": "PT", "display": "Positron emission tomography"},
        ],
        series=[
            {
                "uid": "1.2.3.1",
                "modality": {"system": DCM, "code": "SR", "display": "Structured Report Document"},
            }
        ],
    )
    assert check_bindings(study, service) == []


def test_foreign_modality_system_is_a_warning(service: LocalTerminology) -> None:
    study = _study(
        modality=[{"system": DCM, "code": "MR"}, {"system": "http://snomed.info/sct", "code": "77477000"}]
    )
    issues = check_bindings(study, service)
    assert [(i.severity, i.expression) for i in issues] == [("warning", "ImagingStudy.modality[1]")]


def test_wrong_modality_display_is_a_warning(service: LocalTerminology) -> None:
    study = _study(modality=[{"system": DCM, "code": "CT", "display": "CAT scan"}])
    issues = check_bindings(study, service)
    assert [(i.severity, i.expression) for i in issues] == [("warning", "ImagingStudy.modality[0].display")]


def test_imaging_study_status_is_required(service: LocalTerminology) -> None:
    issues = check_bindings(_study(status="final"), service)
    assert [(i.severity, i.expression) for i in issues] == [("error", "ImagingStudy.status")]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"status": "on"}, [("error", "Endpoint.status")]),
        (
            {"connectionType": {"system": CONNECTION, "code": "dicom-wado"}},
            [("error", "Endpoint.connectionType")],
        ),
        (
            {"connectionType": {"system": "http://example.org/types", "code": "dicom-wado-rs"}},
            [("error", "Endpoint.connectionType")],
        ),
        (
            {"connectionType": {"system": CONNECTION, "code": "hl7-fhir-rest", "display": "FHIR"}},
            [("warning", "Endpoint.connectionType.display")],
        ),
    ],
)
def test_endpoint_bindings(
    service: LocalTerminology, overrides: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    issues = check_bindings(_endpoint(**overrides), service)
    assert [(i.severity, i.expression) for i in issues] == expected


def test_wrong_connection_type_system_names_the_required_system(service: LocalTerminology) -> None:
    (issue,) = check_bindings(_endpoint(connectionType={"system": "urn:x", "code": "dicom-wado-rs"}), service)
    assert issue.diagnostics == (
        "Endpoint.connectionType: system must be "
        "http://terminology.hl7.org/CodeSystem/endpoint-connection-type (required binding to "
        "http://hl7.org/fhir/ValueSet/endpoint-connection-type), got 'urn:x'"
    )


class _UnavailableTerminology:
    """Stands in for an external terminology server that is down."""

    def validate_code(self, **_: Any) -> ValidationResult:
        raise TerminologyError("transient", "terminology server unreachable")


def test_service_errors_propagate_to_the_caller() -> None:
    with pytest.raises(TerminologyError, match="unreachable"):
        check_bindings({"resourceType": "Patient", "gender": "male"}, _UnavailableTerminology())  # type: ignore[arg-type]
