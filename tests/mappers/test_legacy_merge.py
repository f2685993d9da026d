"""Importing over stored data (mappers.legacy.merge_with_existing): DICOM-derived and registered values win,
legacy values only fill gaps, and every legacy value not applied is a conflict row.

The stored resources in golden/legacy/merge.stored-*.json are what the demo with local Orthanc left in a data
dir (the study without its Study Description, to have a gap to fill)."""

import copy
from collections.abc import Callable
from typing import Any

import pytest
from fhir.resources.R4B.imagingstudy import ImagingStudy

from mappers.legacy import (
    UNKNOWN_DICOMWEB_ADDRESS,
    LegacyMerge,
    hospital_endpoint,
    hospital_to_organization,
    legacy_row,
    merge_with_existing,
    report_rows,
    stored_data_source,
    study_to_imaging_study,
)

DICOM_UID = "urn:dicom:uid"
ORTHANC_STUDY_ID = "https://fhir.imaging-federation.example/sid/orthanc-study-id"
# The demo's first hospital and study as legacy rows (tests/mappers/test_legacy.py tests the mapping).
HOSPITAL_ROW = {
    "id": "HOS-001",
    "name": "General Hospital",
    "address": "123 Medical St",
    "phone": "+255-22-1234567",
    "email": "admin@hospital.org",
}
STUDY_ROW = {
    "id": "STU-20240115103000",
    "patient_id": "PAT-901234",
    "hospital_id": "HOS-001",
    "study_date": "2024-01-15 10:30:00",
    "modality": "XR",
    "description": "Chest X-Ray",
    "orthanc_study_id": "orthanc-id-123",
}
MODALITIES = {"xr": ("DX", "Digital Radiography"), "ct": ("CT", "Computed Tomography")}


def modality_lookup(legacy_modality: str) -> tuple[str, str] | None:
    return MODALITIES.get(legacy_modality.casefold())


def legacy_study(**changes: Any) -> dict[str, Any]:
    mapping = study_to_imaging_study(
        STUDY_ROW | changes,
        patients={"PAT-901234": "legacy-pat-901234"},
        hospitals={"HOS-001": "legacy-hos-001"},
        modality_to_dcm=modality_lookup,
    )
    assert mapping.resource is not None
    return mapping.resource


def legacy_endpoint() -> dict[str, Any]:
    return hospital_endpoint("legacy-hos-001", "General Hospital", None)


def legacy_organization(**changes: Any) -> dict[str, Any]:
    resource = hospital_to_organization(HOSPITAL_ROW | changes).resource
    assert resource is not None
    return resource


def merge(legacy: dict[str, Any], stored: dict[str, Any]) -> LegacyMerge:
    table, row_id = legacy_row(legacy, {"legacy-hos-001": "HOS-001"})
    merged = merge_with_existing(legacy, stored, table=table, row_id=row_id)
    assert merged is not None
    return merged


@pytest.fixture
def stored_study(golden: Callable[[str], Any]) -> dict[str, Any]:
    return golden("legacy/merge.stored-study.json")


@pytest.fixture
def stored_endpoint(golden: Callable[[str], Any]) -> dict[str, Any]:
    return golden("legacy/merge.stored-endpoint.json")


@pytest.fixture
def stored_organization(golden: Callable[[str], Any]) -> dict[str, Any]:
    return golden("legacy/merge.stored-organization.json")


# --- golden: what the demo stored, imported over ----------------------------------------------------------


def test_golden_merges_over_the_demo(
    golden: Callable[[str], Any],
    stored_study: dict[str, Any],
    stored_endpoint: dict[str, Any],
    stored_organization: dict[str, Any],
) -> None:
    expected = golden("legacy/merge.expected.json")
    cases = {
        "study": (legacy_study(), stored_study),
        "endpoint": (legacy_endpoint(), stored_endpoint),
        "organization": (legacy_organization(), stored_organization),
    }
    for name, (legacy, stored) in cases.items():
        merged = merge(legacy, stored)
        actual = {
            "resource": merged.resource,
            "source": merged.source,
            "added": list(merged.added),
            "conflicts": report_rows(merged.conflicts),
        }
        assert actual == expected[name], name
    ImagingStudy.model_validate(expected["study"]["resource"])


# --- what counts as stored by others ----------------------------------------------------------------------


def test_a_study_is_dicom_derived_by_its_series_or_its_study_instance_uid(
    stored_study: dict[str, Any],
) -> None:
    assert stored_data_source(stored_study) == "DICOM"
    without_series = {k: v for k, v in stored_study.items() if k != "series"}
    assert stored_data_source(without_series) == "DICOM"
    uid_only = [i for i in stored_study["identifier"] if i.get("system") != DICOM_UID]
    assert stored_data_source({**stored_study, "identifier": uid_only}) == "DICOM"
    assert stored_data_source({**without_series, "identifier": uid_only}) is None
    assert stored_data_source(legacy_study()) is None


def test_an_endpoint_is_registered_by_its_real_address(stored_endpoint: dict[str, Any]) -> None:
    assert stored_data_source(stored_endpoint) == "hospital registration"
    assert stored_data_source(legacy_endpoint()) is None
    assert stored_data_source({**stored_endpoint, "address": UNKNOWN_DICOMWEB_ADDRESS}) is None


def test_an_organization_is_registered_by_its_endpoint_links(stored_organization: dict[str, Any]) -> None:
    assert stored_data_source(stored_organization) == "hospital registration"
    assert stored_data_source(legacy_organization()) is None


def test_what_only_an_import_wrote_is_replaced_by_the_mapping() -> None:
    stored = {
        **legacy_study(description="Old text"),
        "meta": {"versionId": "1", "lastUpdated": "2024-01-01Z"},
    }
    assert merge_with_existing(legacy_study(), stored, table="studies", row_id="STU-20240115103000") is None
    patient = {"resourceType": "Patient", "id": "legacy-pat-901234", "gender": "male"}
    assert merge_with_existing(patient, patient, table="patients", row_id="PAT-901234") is None


# --- studies: DICOM wins, legacy fills gaps ---------------------------------------------------------------


def test_dicom_content_is_kept_whole(stored_study: dict[str, Any]) -> None:
    legacy = legacy_study(study_date="2023-12-31 08:00:00", modality="CT", description="Other text")
    merged = merge(legacy, stored_study).resource
    for element in ("series", "numberOfSeries", "numberOfInstances", "modality", "started", "subject"):
        assert merged[element] == stored_study[element], element
    assert [i for i in merged["identifier"] if i.get("system") == DICOM_UID] == [
        i for i in stored_study["identifier"] if i.get("system") == DICOM_UID
    ]
    assert merged["description"] == "Other text"  # the gap: the stored study had none


def test_each_differing_legacy_value_is_a_conflict_row_naming_its_column(
    stored_study: dict[str, Any],
) -> None:
    stored = {**stored_study, "description": "Chest PA and lateral"}
    legacy = legacy_study(study_date="2023-12-31 08:00:00", modality="CT", hospital_id="HOS-001")
    legacy["subject"] = {"reference": "Patient/legacy-pat-000001"}
    merged = merge(legacy, stored)
    assert merged.added == ()
    assert {(c.severity, c.field) for c in merged.conflicts} == {
        ("conflict", "study_date"),
        ("conflict", "modality"),
        ("conflict", "description"),
        ("conflict", "patient_id"),
        ("conflict", "orthanc_study_id"),
    }
    assert all((c.table, c.row_id) == ("studies", "STU-20240115103000") for c in merged.conflicts)
    (description,) = [c for c in merged.conflicts if c.field == "description"]
    assert description.reason == (
        "ImagingStudy.description: kept 'Chest PA and lateral' from DICOM; "
        "the legacy value 'Chest X-Ray' is not applied"
    )


def test_equal_meaning_is_no_conflict(stored_study: dict[str, Any]) -> None:
    stored = {
        **stored_study,
        "started": "2024-01-15T07:30:00Z",  # the legacy 10:30 East Africa Time
        "description": "Chest  X-Ray",
        "identifier": [i for i in stored_study["identifier"] if i.get("system") != ORTHANC_STUDY_ID],
    }
    legacy = legacy_study(orthanc_study_id=None)
    legacy["modality"][0]["display"] = "DX"  # displays are not compared
    merged = merge(legacy, stored)
    assert merged.conflicts == () and merged.added == ()
    assert merged.resource == {k: v for k, v in stored.items() if k != "meta"}


def test_a_date_only_start_is_not_the_same_claim_as_a_time(stored_study: dict[str, Any]) -> None:
    merged = merge(legacy_study(), {**stored_study, "started": "2024-01-15"})
    assert merged.resource["started"] == "2024-01-15"
    assert {c.field for c in merged.conflicts} == {"study_date", "orthanc_study_id"}


def test_legacy_identifiers_and_notes_of_other_systems_are_added(stored_study: dict[str, Any]) -> None:
    stored = {
        **stored_study,
        "identifier": [i for i in stored_study["identifier"] if i.get("system") != ORTHANC_STUDY_ID][:2],
        "note": [{"authorString": "DICOMweb sync", "text": "Images deleted from the PACS"}],
    }
    merged = merge(legacy_study(), stored)
    assert merged.added == ("identifier", "description", "note")
    assert merged.conflicts == ()
    assert merged.resource["identifier"][:2] == stored["identifier"]
    assert [i["value"] for i in merged.resource["identifier"][2:]] == ["STU-20240115103000", "orthanc-id-123"]
    assert [n["text"] for n in merged.resource["note"]] == [
        "Images deleted from the PACS",
        "Legacy modality: XR",
    ]


def test_a_deleted_study_stays_registered(stored_study: dict[str, Any]) -> None:
    merged = merge(legacy_study(), {**stored_study, "status": "registered"})
    assert merged.resource["status"] == "registered"
    assert any(c.field is None and c.reason.startswith("ImagingStudy.status") for c in merged.conflicts)


def test_elements_the_import_does_not_know_are_kept_and_server_meta_dropped(
    stored_study: dict[str, Any],
) -> None:
    stored = {
        **stored_study,
        "interpreter": [{"display": "Dr. A"}],
        "meta": {"versionId": "7", "lastUpdated": "2026-01-01T00:00:00Z", "tag": [{"code": "x"}]},
    }
    merged = merge(legacy_study(), stored).resource
    assert merged["interpreter"] == [{"display": "Dr. A"}]
    assert merged["meta"] == {"tag": [{"code": "x"}]}


def test_merging_again_adds_nothing_and_gives_the_same_resource(stored_study: dict[str, Any]) -> None:
    first = merge(legacy_study(), stored_study)
    second = merge(legacy_study(), copy.deepcopy(first.resource))
    assert second.added == () and second.resource == first.resource
    assert report_rows(second.conflicts) == report_rows(first.conflicts)


# --- hospitals: a registered Endpoint and Organization are never reset ------------------------------------


def test_a_registered_endpoint_keeps_its_address_in_one_conflict_row(stored_endpoint: dict[str, Any]) -> None:
    merged = merge(legacy_endpoint(), stored_endpoint)
    assert merged.resource == {k: v for k, v in stored_endpoint.items() if k != "meta"}
    (row,) = merged.conflicts
    assert (row.table, row.row_id, row.field) == ("hospitals", "HOS-001", None)
    assert row.reason.startswith(
        f"Endpoint/legacy-hos-001-dicomweb keeps address '{stored_endpoint['address']}'"
    )


def test_a_registered_endpoint_without_conflicts_has_no_row(stored_endpoint: dict[str, Any]) -> None:
    legacy = {**legacy_endpoint(), **{k: stored_endpoint[k] for k in ("address", "status", "name")}}
    assert merge(legacy, stored_endpoint).conflicts == ()


def test_a_registered_organization_keeps_its_links_and_fills_gaps(
    stored_organization: dict[str, Any],
) -> None:
    stored = {k: v for k, v in stored_organization.items() if k != "address"}
    stored["telecom"] = [{"system": "phone", "value": "+255-22-7654321"}]
    merged = merge(legacy_organization(), stored)
    assert merged.resource["endpoint"] == stored_organization["endpoint"]
    assert merged.resource["address"] == [{"text": "123 Medical St"}]
    assert merged.resource["telecom"] == [
        {"system": "phone", "value": "+255-22-7654321"},
        {"system": "email", "value": "admin@hospital.org"},
    ]
    assert merged.added == ("telecom", "address")
    assert [(c.field, c.row_id) for c in merged.conflicts] == [("phone", "HOS-001")]


def test_a_renamed_organization_keeps_its_registered_name(stored_organization: dict[str, Any]) -> None:
    merged = merge(legacy_organization(), {**stored_organization, "name": "General Hospital Dar"})
    assert merged.resource["name"] == "General Hospital Dar"
    assert [c.field for c in merged.conflicts] == ["name"]


def test_legacy_row_of_each_resource_type() -> None:
    hospitals = {"legacy-hos-001": "HOS-001"}
    assert legacy_row(legacy_study(), hospitals) == ("studies", "STU-20240115103000")
    assert legacy_row(legacy_organization(), hospitals) == ("hospitals", "HOS-001")
    assert legacy_row(legacy_endpoint(), hospitals) == ("hospitals", "HOS-001")
    assert legacy_row(legacy_endpoint(), {}) == ("hospitals", "legacy-hos-001-dicomweb")
