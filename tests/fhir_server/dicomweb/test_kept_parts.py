"""What a re-sync keeps of a stored ImagingStudy: DICOM wins where it says something, and a gap someone
else filled (the legacy import's description, a user's note, another system's identifier) stays filled."""

from __future__ import annotations

from typing import Any

from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.sync.study import _with_kept_parts

HOSPITAL = HospitalConnection(
    organization_id="org-1",
    identifier="HOS-1",
    name="Hospital 1",
    orthanc_url="http://127.0.0.1:9",
    wado_endpoint_id="org-1-dicomweb",
    qido_endpoint_id="org-1-dicomweb",
    patient_id_system="urn:test:pid",
)


def mapped(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": {"reference": "Patient/p1"},
        "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.3"}],
        **extra,
    }


def test_a_description_the_dicom_lacks_is_kept() -> None:
    stored = {**mapped(), "id": "s1", "description": "Wrist X-ray (from the old application)"}
    kept = _with_kept_parts(stored, mapped(), "s1", HOSPITAL, "orthanc-1")
    assert kept["description"] == "Wrist X-ray (from the old application)"


def test_the_dicom_description_wins_where_there_is_one() -> None:
    stored = {**mapped(), "id": "s1", "description": "old text"}
    kept = _with_kept_parts(stored, mapped(description="CT HEAD"), "s1", HOSPITAL, "orthanc-1")
    assert kept["description"] == "CT HEAD"


def test_other_systems_identifiers_are_kept() -> None:
    legacy = {"system": "https://example.org/legacy-study-id", "value": "STU-1"}
    stored = {**mapped(), "id": "s1", "identifier": [*mapped()["identifier"], legacy]}
    kept = _with_kept_parts(stored, mapped(), "s1", HOSPITAL, "orthanc-1")
    assert legacy in kept["identifier"]
