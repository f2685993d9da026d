"""Per-resource decisions (fhir_server.security.enforcement.policy): compartments, non-compartment types,
filters."""

from __future__ import annotations

from fhir_server.security.enforcement.policy import AccessContext, decide, search_confinement
from fhir_server.security.enforcement.scopes import ScopeSet

BASE = "https://ehr.example/fhir"
STUDY_A = {
    "resourceType": "ImagingStudy",
    "id": "s1",
    "status": "available",
    "subject": {"reference": "Patient/a"},
    "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}],
}
STUDY_B = {**STUDY_A, "id": "s2", "subject": {"reference": "Patient/b"}}
ORG = {"resourceType": "Organization", "id": "o", "name": "North"}


def access(scope: str, **kw: object) -> AccessContext:
    return AccessContext(subject="t", scopes=ScopeSet.parse(scope), base_url=BASE, **kw)  # type: ignore[arg-type]


def test_patient_scope_is_confined_to_the_launch_patient() -> None:
    a = access("patient/*.cruds", patient="a")
    assert decide(a, "read", "ImagingStudy", STUDY_A)
    assert not decide(a, "read", "ImagingStudy", STUDY_B)
    assert decide(a, "read", "Patient", {"resourceType": "Patient", "id": "a"})
    assert not decide(a, "read", "Patient", {"resourceType": "Patient", "id": "b"})
    absolute = {**STUDY_B, "subject": {"reference": f"{BASE}/Patient/a"}}
    foreign = {**STUDY_B, "subject": {"reference": "https://other.example/fhir/Patient/a"}}
    assert decide(a, "read", "ImagingStudy", absolute)
    assert not decide(a, "read", "ImagingStudy", foreign)  # another server's Patient/a is another person


def test_patient_scope_without_context_grants_nothing() -> None:
    assert not decide(access("patient/*.cruds"), "read", "ImagingStudy", STUDY_A)
    assert not decide(access("patient/*.cruds"), "search", "ImagingStudy", None)


def test_non_compartment_types_are_readable_never_writable_for_patients() -> None:
    a = access("patient/*.cruds", patient="a")
    assert decide(a, "read", "Organization", ORG)
    assert decide(a, "search", "Organization", None)
    for action in ("create", "update", "delete"):
        assert not decide(a, action, "Organization", ORG)  # type: ignore[arg-type]
    assert search_confinement(a, "Organization") is None
    assert search_confinement(a, "ImagingStudy") == "a"


def test_user_scopes_follow_the_user() -> None:
    clinician = access("user/*.rs", role="clinician", fhir_user="Practitioner/7")
    assert decide(clinician, "read", "ImagingStudy", STUDY_B)
    assert search_confinement(clinician, "ImagingStudy") is None
    patient_user = access("user/*.rs", role="patient", fhir_user="Patient/a")
    assert decide(patient_user, "read", "ImagingStudy", STUDY_A)
    assert not decide(patient_user, "read", "ImagingStudy", STUDY_B)
    broken = access("user/*.rs", role="patient")  # a patient account without its Patient sees nothing
    assert not decide(broken, "read", "ImagingStudy", STUDY_A)


def test_filters_use_search_semantics() -> None:
    ct_only = access("system/ImagingStudy.rs?modality=CT")
    assert decide(ct_only, "read", "ImagingStudy", STUDY_A)
    assert not decide(ct_only, "read", "ImagingStudy", {**STUDY_A, "modality": [{"code": "MR"}]})
    # No unfiltered grant: a search is allowed (require passes) but each result must pass `visible`.
    assert search_confinement(ct_only, "ImagingStudy") is False
    unknown = access("system/ImagingStudy.rs?no-such-param=1")
    assert not decide(unknown, "read", "ImagingStudy", STUDY_A)


def test_write_never_implies_read_and_read_never_write() -> None:
    writer = access("system/*.cud")
    assert not decide(writer, "read", "ImagingStudy", STUDY_A)
    assert decide(writer, "update", "ImagingStudy", STUDY_A)
    reader = access("system/*.rs")
    assert not decide(reader, "update", "ImagingStudy", STUDY_A)
