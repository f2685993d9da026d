"""create, read, vread over real HTTP (https://hl7.org/fhir/R4/http.html#create, #read, #vread)."""

from __future__ import annotations

import uuid

import httpx

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def new_patient(family: str = "Doe") -> dict[str, object]:
    return {"resourceType": "Patient", "name": [{"family": family, "given": ["Jane"]}], "gender": "female"}


def test_create_assigns_id_and_returns_201_with_location_etag_last_modified(client: httpx.Client) -> None:
    response = client.post("/Patient", json={**new_patient(), "id": "client-chosen"}, headers=FHIR_JSON)
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != "client-chosen"  # the server assigns ids on create
    assert body["meta"]["versionId"] == "1"
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["last-modified"].endswith("GMT")
    assert response.headers["location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert response.headers["content-type"].startswith("application/fhir+json")


def test_read_returns_stored_resource_with_meta(client: httpx.Client) -> None:
    created = client.post("/Patient", json=new_patient("Reader"), headers=FHIR_JSON).json()
    response = client.get(f"/Patient/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == 'W/"1"'


def test_read_unknown_id_is_404_outcome(client: httpx.Client) -> None:
    response = client.get(f"/Patient/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["code"] == "not-found"


def test_read_invalid_id_syntax_is_400(client: httpx.Client) -> None:
    response = client.get("/Patient/" + "x" * 65)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["id"]


def test_read_if_none_match_current_version_is_304(client: httpx.Client) -> None:
    created = client.post("/Patient", json=new_patient(), headers=FHIR_JSON).json()
    response = client.get(f"/Patient/{created['id']}", headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 304
    assert client.get(f"/Patient/{created['id']}", headers={"If-None-Match": 'W/"7"'}).status_code == 200


def test_vread_returns_each_version(client: httpx.Client) -> None:
    created = client.post("/Patient", json=new_patient("First"), headers=FHIR_JSON).json()
    pid = created["id"]
    client.put(f"/Patient/{pid}", json={**new_patient("Second"), "id": pid}, headers=FHIR_JSON)
    v1 = client.get(f"/Patient/{pid}/_history/1")
    v2 = client.get(f"/Patient/{pid}/_history/2")
    assert v1.json()["name"][0]["family"] == "First"
    assert v2.json()["name"][0]["family"] == "Second"
    assert v2.headers["etag"] == 'W/"2"'
    assert client.get(f"/Patient/{pid}/_history/3").status_code == 404
    assert client.get(f"/Patient/{pid}/_history/abc").status_code == 404


def test_vread_of_deletion_is_410(client: httpx.Client) -> None:
    pid = client.post("/Patient", json=new_patient(), headers=FHIR_JSON).json()["id"]
    client.delete(f"/Patient/{pid}")
    assert client.get(f"/Patient/{pid}/_history/1").status_code == 200
    assert client.get(f"/Patient/{pid}/_history/2").status_code == 410


def test_all_four_resource_types_round_trip(client: httpx.Client) -> None:
    org = client.post("/Organization", json={"resourceType": "Organization", "name": "H"}, headers=FHIR_JSON)
    assert org.status_code == 201
    endpoint = {
        "resourceType": "Endpoint",
        "status": "active",
        "address": "http://pacs/dicom-web",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "dicom-wado-rs",
        },
        "payloadType": [{"text": "DICOM WADO-RS"}],
        "managingOrganization": {"reference": f"Organization/{org.json()['id']}"},
    }
    assert client.post("/Endpoint", json=endpoint, headers=FHIR_JSON).status_code == 201
    study = {"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/x"}}
    created = client.post("/ImagingStudy", json=study, headers=FHIR_JSON)
    assert created.status_code == 201
    assert client.get(f"/ImagingStudy/{created.json()['id']}").json()["status"] == "available"


def test_unsupported_resource_type_is_404(client: httpx.Client) -> None:
    response = client.post("/Observation", json={"resourceType": "Observation"}, headers=FHIR_JSON)
    assert response.status_code == 404
    assert "not supported" in response.json()["issue"][0]["diagnostics"]
    assert client.get("/Observation/1").status_code == 404


def test_client_meta_tags_are_kept_but_version_is_servers(client: httpx.Client) -> None:
    body = {**new_patient(), "meta": {"versionId": "99", "tag": [{"system": "urn:t", "code": "demo"}]}}
    created = client.post("/Patient", json=body, headers=FHIR_JSON).json()
    assert created["meta"]["versionId"] == "1"
    assert created["meta"]["tag"] == [{"system": "urn:t", "code": "demo"}]
