"""Conditional create by query string (`POST [base]/ImagingStudy?identifier=…`, what fhirpy scripts of the
old app send) matches only what the caller may see: for a patient's token another patient's study is
absent (a create, like for an id nobody has), its own study is the match (200, nothing created)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.server_process import SecuredServer

# Baraka, not John: the old-API tests count John's studies on the same shared server.
BARAKA = "legacy-pat-112233"
LEGACY_STUDY_ID = "https://fhir.imaging-federation.example/sid/legacy-study-id"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def baraka(legacy_server: SecuredServer) -> httpx.Client:
    token = legacy_server.mint(
        "patient/*.cruds", patient=BARAKA, role="patient", fhir_user=f"Patient/{BARAKA}"
    )
    return legacy_server.client(token)


def _study(old_id: str) -> dict[str, object]:
    return {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": {"reference": f"Patient/{BARAKA}"},
        "identifier": [{"system": LEGACY_STUDY_ID, "value": old_id}],
    }


def _create(client: httpx.Client, old_id: str) -> httpx.Response:
    params = {"identifier": f"{LEGACY_STUDY_ID}|{old_id}"}
    return client.post("/ImagingStudy", params=params, json=_study(old_id), headers=FHIR_JSON)


def test_own_match_is_returned_and_nothing_created(baraka: httpx.Client) -> None:
    response = _create(baraka, "STU-20240410080000")
    assert response.status_code == 200
    assert response.json()["id"] == "legacy-stu-20240410080000"


def test_another_patients_match_is_absent(baraka: httpx.Client, legacy_server: SecuredServer) -> None:
    hidden = _create(baraka, "STU-20240305140000")  # Amina's study
    unknown = _create(baraka, f"STU-{uuid.uuid4().hex[:12]}")
    assert hidden.status_code == unknown.status_code == 201
    assert hidden.json()["subject"] == {"reference": f"Patient/{BARAKA}"}
    with legacy_server.client(legacy_server.mint("system/*.rs", role=None)) as system:
        amina = system.get("/ImagingStudy/legacy-stu-20240305140000").json()
    assert amina["subject"] == {"reference": "Patient/legacy-pat-567890"}  # untouched
