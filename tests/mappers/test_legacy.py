"""Legacy SQLite import: one test per mapping rule, then golden tests over the shared legacy database."""

import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.endpoint import Endpoint
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient

from mappers.legacy import (
    LegacyImport,
    LegacyIssue,
    LegacyMapping,
    hospital_endpoint,
    hospital_to_organization,
    map_legacy_database,
    modality_lookup_from_terminology,
    patient_to_patient,
    read_legacy_rows,
    report_rows,
    study_to_imaging_study,
)
from terminology import LocalTerminology

LEGACY_DB = Path(__file__).parents[2].parent / "shared" / "data" / "legacy-federation.db"

DCM = "http://dicom.nema.org/resources/ontology/DCM"
NATIONAL_ID = "https://fhir.imaging-federation.example/sid/national-id"
LEGACY_PATIENT_ID = "https://fhir.imaging-federation.example/sid/legacy-patient-id"
LEGACY_STUDY_ID = "https://fhir.imaging-federation.example/sid/legacy-study-id"
ORTHANC_STUDY_ID = "https://fhir.imaging-federation.example/sid/orthanc-study-id"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

# Stands in for the ConceptMap-backed look-up: the legacy spellings found in the database, nothing else.
TEST_MODALITIES: dict[str, tuple[str, str]] = {
    "xr": ("DX", "Digital Radiography"),
    "x-ray": ("DX", "Digital Radiography"),
    "cr": ("CR", "Computed Radiography"),
    "dx": ("DX", "Digital Radiography"),
    "ct": ("CT", "Computed Tomography"),
    "mr": ("MR", "Magnetic Resonance"),
    "us": ("US", "Ultrasound"),
    "ultrasound": ("US", "Ultrasound"),
    "mg": ("MG", "Mammography"),
    "nm": ("NM", "Nuclear Medicine"),
    "pet": ("PT", "Positron emission tomography (PET)"),
}


def dict_modality_lookup(legacy_modality: str) -> tuple[str, str] | None:
    return TEST_MODALITIES.get(legacy_modality.casefold())


IMPORTED_PATIENTS = {"PAT-901234": "legacy-pat-901234"}
IMPORTED_HOSPITALS = {"HOS-001": "legacy-hos-001"}


def hospital_row(**changes: Any) -> dict[str, Any]:
    row = {
        "id": "HOS-001",
        "name": "General Hospital",
        "address": "123 Medical St",
        "phone": "+255-22-1234567",
        "email": "admin@hospital.org",
        "created_date": "2026-11-25 08:45:11",
    }
    return row | changes


def patient_row(**changes: Any) -> dict[str, Any]:
    row = {
        "id": "PAT-901234",
        "national_id": "199012345678901234",
        "first_name": "John",
        "last_name": "Doe",
        "date_of_birth": "1990-05-15",
        "gender": "M",
        "phone": "+255712345678",
        "created_date": "2026-11-25 08:45:11",
    }
    return row | changes


def study_row(**changes: Any) -> dict[str, Any]:
    row = {
        "id": "STU-20240115103000",
        "patient_id": "PAT-901234",
        "hospital_id": "HOS-001",
        "study_date": "2024-01-15 10:30:00",
        "modality": "CT",
        "description": "Chest X-Ray",
        "orthanc_study_id": "orthanc-id-123",
        "created_date": "2026-11-25 08:45:11",
    }
    return row | changes


def map_patient(**changes: Any) -> LegacyMapping:
    mapping = patient_to_patient(patient_row(**changes))
    if mapping.resource:
        Patient.model_validate(mapping.resource)
    return mapping


def map_study(**changes: Any) -> LegacyMapping:
    mapping = study_to_imaging_study(
        study_row(**changes),
        patients=IMPORTED_PATIENTS,
        hospitals=IMPORTED_HOSPITALS,
        modality_to_dcm=dict_modality_lookup,
    )
    if mapping.resource:
        ImagingStudy.model_validate(mapping.resource)
    return mapping


def warned(mapping: LegacyMapping) -> list[str | None]:
    assert mapping.resource is not None
    assert {issue.severity for issue in mapping.issues} <= {"warning"}
    return [issue.field for issue in mapping.issues]


def rejection(mapping: LegacyMapping) -> LegacyIssue:
    assert mapping.resource is None
    (issue,) = [issue for issue in mapping.issues if issue.severity == "rejected"]
    return issue


# --- hospitals ------------------------------------------------------------------------------------------


def test_hospital_becomes_an_active_organization_with_its_legacy_id() -> None:
    mapping = hospital_to_organization(hospital_row())

    assert mapping.issues == []
    organization = mapping.resource
    assert organization is not None
    Organization.model_validate(organization)
    assert organization["id"] == "legacy-hos-001"
    assert organization["active"] is True
    assert [(i["system"], i["value"]) for i in organization["identifier"]] == [
        ("https://fhir.imaging-federation.example/sid/legacy-hospital-id", "HOS-001")
    ]
    assert organization["address"] == [{"text": "123 Medical St"}]


def test_hospital_empty_phone_and_null_email_are_left_out_without_a_warning() -> None:
    mapping = hospital_to_organization(hospital_row(phone="", email=None, address=None))

    assert mapping.issues == []
    assert mapping.resource is not None
    assert "telecom" not in mapping.resource
    assert "address" not in mapping.resource


def test_hospital_without_a_name_is_imported_with_a_warning() -> None:
    mapping = hospital_to_organization(hospital_row(name="  "))

    assert warned(mapping) == ["name"]
    assert mapping.resource is not None
    Organization.model_validate(mapping.resource)


@pytest.mark.parametrize("legacy_id", [None, "", "HOS 001"])
def test_hospital_without_a_usable_id_is_rejected(legacy_id: str | None) -> None:
    assert rejection(hospital_to_organization(hospital_row(id=legacy_id))).field == "id"


def test_hospital_endpoint_without_a_known_dicomweb_base_is_off_at_a_placeholder_urn() -> None:
    endpoint = hospital_endpoint("legacy-hos-001", "General Hospital", None)

    Endpoint.model_validate(endpoint)
    assert endpoint["id"] == "legacy-hos-001-dicomweb"
    assert (endpoint["status"], endpoint["address"]) == ("off", "urn:legacy:unknown-dicomweb")
    assert endpoint["connectionType"]["code"] == "dicom-wado-rs"
    assert endpoint["payloadType"] == [{"text": "DICOM WADO-RS"}]
    assert endpoint["managingOrganization"] == {"reference": "Organization/legacy-hos-001"}


def test_hospital_endpoint_with_a_dicomweb_base_is_active_and_shaped_like_the_unknown_one() -> None:
    known = hospital_endpoint("legacy-hos-001", "General Hospital", "http://orthanc-hos-001:8042/dicom-web/")
    unknown = hospital_endpoint("legacy-hos-001", "General Hospital", None)

    Endpoint.model_validate(known)
    assert (known["status"], known["address"]) == ("active", "http://orthanc-hos-001:8042/dicom-web")
    assert known.keys() == unknown.keys()
    with pytest.raises(ValueError, match="DICOMweb base"):
        hospital_endpoint("legacy-hos-001", "General Hospital", "orthanc:8042")


# --- patients -------------------------------------------------------------------------------------------


def test_patient_identifiers_national_id_typed_ni_and_legacy_id_typed_pi() -> None:
    mapping = map_patient()

    assert mapping.issues == []
    assert mapping.resource is not None
    assert mapping.resource["id"] == "legacy-pat-901234"
    assert [
        (i["use"], i["type"]["coding"][0]["code"], i["system"], i["value"])
        for i in mapping.resource["identifier"]
    ] == [
        ("official", "NI", NATIONAL_ID, "199012345678901234"),
        ("old", "PI", LEGACY_PATIENT_ID, "PAT-901234"),
    ]
    assert mapping.resource["name"] == [{"family": "Doe", "given": ["John"]}]


def test_national_id_system_is_configurable() -> None:
    mapping = patient_to_patient(patient_row(), national_id_system="urn:oid:2.16.834.1.1")

    assert mapping.resource is not None
    assert mapping.resource["identifier"][0]["system"] == "urn:oid:2.16.834.1.1"


def test_national_id_with_spaces_is_stored_canonical_with_a_warning() -> None:
    mapping = map_patient(national_id=" 1990 1234 5678 ab ")

    assert warned(mapping) == ["national_id"]
    assert mapping.resource is not None
    assert mapping.resource["identifier"][0]["value"] == "199012345678AB"


def test_patient_without_national_id_keeps_its_legacy_identifier_with_a_warning() -> None:
    mapping = map_patient(national_id="")

    assert warned(mapping) == ["national_id"]
    assert mapping.resource is not None
    assert [i["value"] for i in mapping.resource["identifier"]] == ["PAT-901234"]


@pytest.mark.parametrize(
    ("legacy", "gender"),
    [
        ("M", "male"),
        ("male", "male"),
        ("F", "female"),
        ("Female", "female"),
        ("O", "other"),
        ("U", "unknown"),
    ],
)
def test_each_gender_spelling_in_the_database(legacy: str, gender: str) -> None:
    mapping = map_patient(gender=legacy)

    assert mapping.issues == []
    assert mapping.resource is not None
    assert mapping.resource["gender"] == gender


@pytest.mark.parametrize("legacy", ["", None])
def test_empty_gender_is_omitted_with_a_warning(legacy: str | None) -> None:
    mapping = map_patient(gender=legacy)

    assert warned(mapping) == ["gender"]
    assert mapping.resource is not None
    assert "gender" not in mapping.resource


def test_unrecognised_gender_is_omitted_with_a_warning_naming_it() -> None:
    mapping = map_patient(gender="Mann")

    assert warned(mapping) == ["gender"]
    assert "'Mann'" in mapping.issues[0].reason
    assert mapping.resource is not None
    assert "gender" not in mapping.resource


@pytest.mark.parametrize(
    ("legacy", "birth_date"),
    [("1990-05-15", "1990-05-15"), ("25/06/2021", "2021-06-25"), ("1990-05-15 00:00:00", "1990-05-15")],
)
def test_birth_date_from_each_format(legacy: str, birth_date: str) -> None:
    mapping = map_patient(date_of_birth=legacy)

    assert mapping.issues == []
    assert mapping.resource is not None
    assert mapping.resource["birthDate"] == birth_date


@pytest.mark.parametrize("legacy", ["", None])
def test_empty_birth_date_is_omitted_with_a_warning(legacy: str | None) -> None:
    mapping = map_patient(date_of_birth=legacy)

    assert warned(mapping) == ["date_of_birth"]
    assert mapping.resource is not None
    assert "birthDate" not in mapping.resource


def test_unparseable_birth_date_is_omitted_with_a_warning_naming_it() -> None:
    mapping = map_patient(date_of_birth="31/02/1990")

    assert warned(mapping) == ["date_of_birth"]
    assert "'31/02/1990'" in mapping.issues[0].reason


@pytest.mark.parametrize("legacy", ["", None])
def test_empty_phone_is_left_out_without_a_warning(legacy: str | None) -> None:
    mapping = map_patient(phone=legacy)

    assert mapping.issues == []
    assert mapping.resource is not None
    assert "telecom" not in mapping.resource


def test_patient_without_any_name_is_imported_with_a_warning() -> None:
    mapping = map_patient(first_name="", last_name=None)

    assert warned(mapping) == ["last_name"]
    assert mapping.resource is not None
    assert "name" not in mapping.resource


@pytest.mark.parametrize("legacy_id", [None, " ", "PAT 901234"])
def test_patient_without_a_usable_id_is_rejected(legacy_id: str | None) -> None:
    assert rejection(map_patient(id=legacy_id)).field == "id"


# --- studies --------------------------------------------------------------------------------------------


def test_study_identifiers_are_the_plain_legacy_id_and_the_orthanc_id_of_its_hospital() -> None:
    mapping = map_study()

    assert mapping.issues == []
    assert mapping.resource is not None
    assert mapping.resource["id"] == "legacy-stu-20240115103000"
    assert mapping.resource["status"] == "available"
    assert mapping.resource["identifier"] == [
        {"use": "old", "system": LEGACY_STUDY_ID, "value": "STU-20240115103000"},
        {
            "system": ORTHANC_STUDY_ID,
            "value": "orthanc-id-123",
            "assigner": {"reference": "Organization/legacy-hos-001"},
        },
    ]
    assert mapping.resource["subject"] == {"reference": "Patient/legacy-pat-901234"}
    assert mapping.resource["endpoint"] == [{"reference": "Endpoint/legacy-hos-001-dicomweb"}]


@pytest.mark.parametrize(
    ("legacy", "started"),
    [
        ("2024-01-15 10:30:00", "2024-01-15T10:30:00+03:00"),
        ("2015-04-07T07:36:50", "2015-04-07T07:36:50+03:00"),
        ("2024-11-10", "2024-11-10"),
        ("15/01/2024", "2024-01-15"),
    ],
)
def test_study_date_from_each_format(legacy: str, started: str) -> None:
    mapping = map_study(study_date=legacy)

    assert mapping.issues == []
    assert mapping.resource is not None
    assert mapping.resource["started"] == started


def test_without_a_hospital_time_zone_only_the_study_day_is_kept() -> None:
    mapping = study_to_imaging_study(
        study_row(),
        patients=IMPORTED_PATIENTS,
        hospitals=IMPORTED_HOSPITALS,
        modality_to_dcm=dict_modality_lookup,
        default_tz=None,
    )

    assert mapping.resource is not None
    assert mapping.resource["started"] == "2024-01-15"


@pytest.mark.parametrize(("legacy", "field"), [("", "study_date"), ("2024-02-30", "study_date")])
def test_empty_or_unparseable_study_date_is_omitted_with_a_warning(legacy: str, field: str) -> None:
    mapping = map_study(study_date=legacy)

    assert warned(mapping) == [field]
    assert mapping.resource is not None
    assert "started" not in mapping.resource
    assert mapping.resource["status"] == "available"


@pytest.mark.parametrize(
    ("legacy", "code", "note"),
    [
        ("CT", "CT", None),
        ("ct", "CT", None),
        ("MR", "MR", None),
        ("US", "US", None),
        ("CR", "CR", None),
        ("DX", "DX", None),
        ("MG", "MG", None),
        ("NM", "NM", None),
        ("XR", "DX", "Legacy modality: XR"),
        ("X-Ray", "DX", "Legacy modality: X-Ray"),
        ("Ultrasound", "US", "Legacy modality: Ultrasound"),
        ("PET", "PT", "Legacy modality: PET"),
    ],
)
def test_each_modality_spelling_becomes_a_dcm_coding(legacy: str, code: str, note: str | None) -> None:
    mapping = map_study(modality=legacy)

    assert mapping.issues == []
    assert mapping.resource is not None
    assert [(c["system"], c["code"]) for c in mapping.resource["modality"]] == [(DCM, code)]
    assert mapping.resource.get("note") == ([{"text": note}] if note else None)


def test_unmapped_modality_is_kept_in_a_note_with_a_warning_naming_it() -> None:
    mapping = map_study(modality="Other")

    assert warned(mapping) == ["modality"]
    assert "'Other'" in mapping.issues[0].reason
    assert mapping.resource is not None
    assert "modality" not in mapping.resource
    assert mapping.resource["note"] == [{"text": "Legacy modality: Other"}]


@pytest.mark.parametrize("legacy", ["", None])
def test_empty_modality_is_warned(legacy: str | None) -> None:
    mapping = map_study(modality=legacy)

    assert warned(mapping) == ["modality"]
    assert mapping.resource is not None
    assert "modality" not in mapping.resource
    assert "note" not in mapping.resource


def test_a_legacy_modality_may_map_to_several_dcm_codes() -> None:
    mapping = study_to_imaging_study(
        study_row(modality="PET-CT"),
        patients=IMPORTED_PATIENTS,
        hospitals=IMPORTED_HOSPITALS,
        modality_to_dcm=lambda _: [
            ("PT", "Positron emission tomography (PET)"),
            ("CT", "Computed Tomography"),
        ],
    )

    assert mapping.resource is not None
    assert [c["code"] for c in mapping.resource["modality"]] == ["PT", "CT"]
    assert mapping.resource["note"] == [{"text": "Legacy modality: PET-CT"}]


def test_study_of_a_patient_that_was_not_imported_is_rejected() -> None:
    issue = rejection(map_study(patient_id="PAT-MISSING"))

    assert issue == LegacyIssue(
        table="studies",
        row_id="STU-20240115103000",
        severity="rejected",
        field="patient_id",
        reason="patient_id 'PAT-MISSING' is not an imported patient (absent from the patients table, "
        "or rejected there), and ImagingStudy.subject is required",
    )


def test_study_without_a_patient_is_rejected() -> None:
    assert rejection(map_study(patient_id=None)).field == "patient_id"


def test_study_of_an_unknown_hospital_is_imported_without_endpoint_with_a_warning() -> None:
    mapping = map_study(hospital_id="HOS-999")

    assert warned(mapping) == ["hospital_id"]
    assert "'HOS-999'" in mapping.issues[0].reason
    assert mapping.resource is not None
    assert "endpoint" not in mapping.resource
    assert mapping.resource["identifier"][1] == {"system": ORTHANC_STUDY_ID, "value": "orthanc-id-123"}


@pytest.mark.parametrize("legacy", ["", None, "   "])
def test_empty_description_is_omitted_without_a_warning(legacy: str | None) -> None:
    mapping = map_study(description=legacy)

    assert mapping.issues == []
    assert mapping.resource is not None
    assert "description" not in mapping.resource


def test_markup_is_stripped_from_the_description_with_a_warning() -> None:
    mapping = map_study(description="<b>Chest</b> X-ray <script>alert(1)</script>")

    assert warned(mapping) == ["description"]
    assert mapping.resource is not None
    assert mapping.resource["description"] == "Chest X-ray"


def test_description_of_markup_only_is_omitted_with_a_warning() -> None:
    mapping = map_study(description="<script>alert(1)</script>")

    assert warned(mapping) == ["description"]
    assert mapping.resource is not None
    assert "description" not in mapping.resource


def test_a_resource_that_would_be_invalid_fhir_is_rejected_not_returned() -> None:
    # FHIR offsets stop at +14:00; a misconfigured hospital zone must not produce an invalid write.
    mapping = study_to_imaging_study(
        study_row(),
        patients=IMPORTED_PATIENTS,
        hospitals=IMPORTED_HOSPITALS,
        modality_to_dcm=dict_modality_lookup,
        default_tz=timezone(timedelta(hours=20)),
    )

    issue = rejection(mapping)
    assert issue.field is None
    assert issue.reason.startswith("the mapped ImagingStudy is invalid FHIR: started: ")


def test_study_without_orthanc_id_has_only_its_legacy_identifier() -> None:
    mapping = map_study(orthanc_study_id=None)

    assert mapping.resource is not None
    assert [i["value"] for i in mapping.resource["identifier"]] == ["STU-20240115103000"]


# --- whole database: cross-row rules --------------------------------------------------------------------


def map_rows(
    hospitals: list[dict[str, Any]], patients: list[dict[str, Any]], studies: list[dict[str, Any]]
) -> LegacyImport:
    return map_legacy_database(
        {"hospitals": hospitals, "patients": patients, "studies": studies},
        modality_to_dcm=dict_modality_lookup,
    )


def test_duplicate_national_id_despite_spacing_and_case_rejects_the_second_patient_and_its_studies() -> None:
    result = map_rows(
        [hospital_row()],
        [
            patient_row(id="PAT-1", national_id="19901234AB"),
            patient_row(id="PAT-2", national_id=" 1990 1234 ab "),
        ],
        [study_row(id="STU-1", patient_id="PAT-1"), study_row(id="STU-2", patient_id="PAT-2")],
    )

    rejected = [(i.table, i.row_id, i.field, i.reason) for i in result.issues if i.severity == "rejected"]
    assert rejected[0] == (
        "patients",
        "PAT-2",
        "national_id",
        "duplicate of patients row 'PAT-1': both have national_id '19901234AB'",
    )
    assert [(table, row_id) for table, row_id, _, _ in rejected] == [
        ("patients", "PAT-2"),
        ("studies", "STU-2"),
    ]
    assert [r["id"] for r in result.resources if r["resourceType"] in ("Patient", "ImagingStudy")] == [
        "legacy-pat-1",
        "legacy-stu-1",
    ]


def test_legacy_ids_differing_only_in_case_would_share_a_fhir_id_so_the_second_is_rejected() -> None:
    result = map_rows([hospital_row(id="HOS-1"), hospital_row(id="hos-1")], [], [])

    assert [(i.row_id, i.field, i.severity) for i in result.issues] == [("hos-1", "id", "rejected")]
    assert result.summary()["hospitals.rejected"] == 1


def test_resources_come_in_dependency_order() -> None:
    result = map_rows([hospital_row()], [patient_row()], [study_row()])

    assert [(r["resourceType"], r["id"]) for r in result.resources] == [
        ("Organization", "legacy-hos-001"),
        ("Endpoint", "legacy-hos-001-dicomweb"),
        ("Patient", "legacy-pat-901234"),
        ("ImagingStudy", "legacy-stu-20240115103000"),
    ]


def test_report_rows_are_flat_dicts() -> None:
    issue = LegacyIssue("studies", "STU-1", "warning", "modality", "modality 'Other' has no DCM mapping")

    assert report_rows([issue]) == [
        {
            "row_id": "STU-1",
            "table": "studies",
            "severity": "warning",
            "field": "modality",
            "reason": "modality 'Other' has no DCM mapping",
        }
    ]


# --- whole shared database: golden ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def legacy_rows() -> Iterator[dict[str, list[dict[str, Any]]]]:
    if not LEGACY_DB.exists():
        pytest.fail(f"the shared legacy database is missing: {LEGACY_DB}")
    connection = sqlite3.connect(f"file:{LEGACY_DB}?mode=ro", uri=True)
    try:
        yield read_legacy_rows(connection)
    finally:
        connection.close()


@pytest.fixture(scope="module")
def shared_import(legacy_rows: dict[str, list[dict[str, Any]]]) -> LegacyImport:
    return map_legacy_database(legacy_rows, modality_to_dcm=dict_modality_lookup)


# Counted by hand from the database (see the comments of the next test).
SHARED_DB_SUMMARY = {
    "hospitals.imported": 3,
    "hospitals.imported_with_warnings": 0,
    "hospitals.rejected": 0,
    "patients.imported": 32,
    "patients.imported_with_warnings": 28,
    "patients.rejected": 0,
    "studies.imported": 71,
    "studies.imported_with_warnings": 77,
    "studies.rejected": 2,
}


def test_read_legacy_rows_returns_every_row_as_a_dict(legacy_rows: dict[str, list[dict[str, Any]]]) -> None:
    assert {table: len(rows) for table, rows in legacy_rows.items()} == {
        "hospitals": 3,
        "patients": 60,
        "studies": 150,
    }
    assert legacy_rows["patients"][0]["id"] == "PAT-901234"
    assert set(legacy_rows["studies"][0]) == {
        "id",
        "patient_id",
        "hospital_id",
        "study_date",
        "modality",
        "description",
        "orthanc_study_id",
        "created_date",
    }


def test_shared_database_summary(shared_import: LegacyImport) -> None:
    # hospitals: HOS-002 has no email and HOS-003 no address and an empty phone; all optional, so clean.
    # patients: 28 lack gender (11) or birth date (24); no duplicate national ids; 15 day-first dates parse.
    # studies: 2 reference PAT-MISSING; of the rest, 77 have an empty date, modality '' or 'Other',
    # hospital HOS-999 or a <script> in the description.
    assert shared_import.summary() == SHARED_DB_SUMMARY


def test_every_row_is_imported_imported_with_warnings_or_rejected(shared_import: LegacyImport) -> None:
    summary = shared_import.summary()

    for table, rows in {"hospitals": 3, "patients": 60, "studies": 150}.items():
        outcomes = ("imported", "imported_with_warnings", "rejected")
        assert sum(summary[f"{table}.{outcome}"] for outcome in outcomes) == rows


def test_shared_database_resource_counts(shared_import: LegacyImport) -> None:
    counts: dict[str, int] = {}
    for resource in shared_import.resources:
        counts[resource["resourceType"]] = counts.get(resource["resourceType"], 0) + 1

    assert counts == {"Organization": 3, "Endpoint": 3, "Patient": 60, "ImagingStudy": 148}


def test_shared_database_issue_counts_per_rule(shared_import: LegacyImport) -> None:
    per_field: dict[tuple[str, str, str | None], int] = {}
    for issue in shared_import.issues:
        key = (issue.table, issue.severity, issue.field)
        per_field[key] = per_field.get(key, 0) + 1

    assert per_field == {
        ("patients", "warning", "gender"): 11,
        ("patients", "warning", "date_of_birth"): 24,
        ("studies", "rejected", "patient_id"): 2,
        ("studies", "warning", "study_date"): 36,  # 37 empty, one of them is a rejected study's
        ("studies", "warning", "hospital_id"): 30,
        ("studies", "warning", "modality"): 20,  # 8 empty, 12 'Other'
        ("studies", "warning", "description"): 16,
    }


def test_every_shared_database_resource_is_valid_fhir_r4(shared_import: LegacyImport) -> None:
    models = {
        "Organization": Organization,
        "Endpoint": Endpoint,
        "Patient": Patient,
        "ImagingStudy": ImagingStudy,
    }
    for resource in shared_import.resources:
        models[resource["resourceType"]].model_validate(resource)


def test_golden_representative_resources(shared_import: LegacyImport, golden: Callable[[str], Any]) -> None:
    expected = golden("legacy/representative.json")
    by_reference = {f"{r['resourceType']}/{r['id']}": r for r in shared_import.resources}

    for reference, resource in expected.items():
        assert by_reference[reference] == resource, reference


def test_golden_issues_of_a_messy_study(shared_import: LegacyImport) -> None:
    issues = [i for i in shared_import.issues if i.row_id == "STU-20171028111616"]

    assert report_rows(issues) == [
        {
            "row_id": "STU-20171028111616",
            "table": "studies",
            "severity": "warning",
            "field": "hospital_id",
            "reason": "hospital_id 'HOS-999' is not an imported hospital; the study is imported without a "
            "hospital (no ImagingStudy.endpoint)",
        },
        {
            "row_id": "STU-20171028111616",
            "table": "studies",
            "severity": "warning",
            "field": "study_date",
            "reason": "study_date is empty; ImagingStudy.started omitted",
        },
        {
            "row_id": "STU-20171028111616",
            "table": "studies",
            "severity": "warning",
            "field": "description",
            "reason": "markup removed from the description ('Follow-up <script>alert(1)</script>'): "
            "kept 'Follow-up'",
        },
    ]


def test_golden_rejected_studies(shared_import: LegacyImport) -> None:
    rejected = [(i.row_id, i.field) for i in shared_import.issues if i.severity == "rejected"]

    assert rejected == [("STU-20171018224546", "patient_id"), ("STU-20241015220446", "patient_id")]


# --- integration with the terminology ConceptMap --------------------------------------------------------


def test_concept_map_backed_lookup_maps_the_whole_shared_database_alike(
    legacy_rows: dict[str, list[dict[str, Any]]],
) -> None:
    lookup = modality_lookup_from_terminology(LocalTerminology())

    assert lookup("ct") == [("CT", "Computed Tomography")]
    assert lookup("X-Ray") == [("DX", "Digital Radiography")]  # the first of the narrower DX | CR
    assert lookup("PET-CT") == [("PT", "Positron emission tomography (PET)"), ("CT", "Computed Tomography")]
    assert lookup("Other") == []
    result = map_legacy_database(legacy_rows, modality_to_dcm=lookup)
    assert result.summary() == SHARED_DB_SUMMARY
