"""$validate and terminology bindings on write."""

from __future__ import annotations

import httpx

FHIR_JSON = {"Content-Type": "application/fhir+json"}
DCM = "http://dicom.nema.org/resources/ontology/DCM"


def study(modality: str) -> dict[str, object]:
    return {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": {"reference": "Patient/p"},
        "series": [{"uid": "1.2.3", "modality": {"system": DCM, "code": modality}}],
    }


def test_wrong_gender_code_is_400_naming_the_element(client: httpx.Client) -> None:
    response = client.post("/Patient", json={"resourceType": "Patient", "gender": "M"}, headers=FHIR_JSON)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Patient.gender"]


def test_wrong_endpoint_connection_type_and_status_are_400(client: httpx.Client) -> None:
    endpoint = {
        "resourceType": "Endpoint",
        "status": "active",
        "address": "http://x",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "dicom-carrier-pigeon",
        },
        "payloadType": [{"text": "DICOM"}],
    }
    response = client.post("/Endpoint", json=endpoint, headers=FHIR_JSON)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"][0].startswith("Endpoint.connectionType")
    bad_status = client.post("/ImagingStudy", json={**study("CT"), "status": "done"}, headers=FHIR_JSON)
    assert bad_status.status_code == 400
    assert bad_status.json()["issue"][0]["expression"] == ["ImagingStudy.status"]


def test_unknown_modality_is_accepted_with_a_warning(client: httpx.Client) -> None:
    response = client.post(
        "/ImagingStudy", json=study("ZZ"), headers={**FHIR_JSON, "Prefer": "return=OperationOutcome"}
    )
    assert response.status_code == 201
    warnings = [i for i in response.json()["issue"] if i["severity"] == "warning"]
    assert warnings[0]["expression"] == ["ImagingStudy.series[0].modality"]


def test_validate_returns_same_outcome_without_storing(client: httpx.Client) -> None:
    before = client.get("/Patient/_history", params={"_count": 0}).json()["total"]
    bad = client.post(
        "/Patient/$validate", json={"resourceType": "Patient", "gender": "M"}, headers=FHIR_JSON
    )
    assert bad.status_code == 200
    assert bad.json()["issue"][0]["severity"] == "error"
    assert bad.json()["issue"][0]["expression"] == ["Patient.gender"]
    good = client.post(
        "/Patient/$validate", json={"resourceType": "Patient", "gender": "male"}, headers=FHIR_JSON
    )
    assert good.json()["issue"][0]["severity"] == "information"
    wrapped = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": study("ZZ")}]}
    warned = client.post("/ImagingStudy/$validate", json=wrapped, headers=FHIR_JSON).json()
    assert [i["severity"] for i in warned["issue"]] == ["information", "warning"]
    structure = client.post(
        "/Patient/$validate", json={"resourceType": "Patient", "foo": 1}, headers=FHIR_JSON
    )
    assert structure.json()["issue"][0]["expression"] == ["Patient.foo"]
    assert client.get("/Patient/_history", params={"_count": 0}).json()["total"] == before
