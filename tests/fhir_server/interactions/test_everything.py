"""Patient $everything (https://hl7.org/fhir/R4/patient-operation-everything.html): the patient, their
studies, the studies' endpoints, the endpoints' organizations and the patient's own organizations."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

CONNECTION = {
    "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
    "code": "dicom-wado-rs",
}


@pytest.fixture(scope="module")
def prefix(base_url: str) -> str:
    prefix = f"ev{uuid.uuid4().hex[:10]}"

    def put(name: str, resource: dict[str, Any]) -> None:
        resource_id = f"{prefix}-{name}"
        response = httpx.put(
            f"{base_url}/{resource['resourceType']}/{resource_id}", json={**resource, "id": resource_id}
        )
        assert response.status_code == 201, response.text

    def ref(kind: str, name: str) -> dict[str, str]:
        return {"reference": f"{kind}/{prefix}-{name}"}

    for org in ("o1", "o2", "o3", "o4", "o9"):
        put(org, {"resourceType": "Organization", "name": org})
    for endpoint, org in (("e1", "o1"), ("e2", "o2"), ("e9", "o9")):
        put(
            endpoint,
            {
                "resourceType": "Endpoint",
                "status": "active",
                "connectionType": CONNECTION,
                "payloadType": [{"text": "DICOM"}],
                "address": "https://pacs.example.org/dicom-web",
                "managingOrganization": ref("Organization", org),
            },
        )
    put(
        "p",
        {
            "resourceType": "Patient",
            "managingOrganization": ref("Organization", "o3"),
            "generalPractitioner": [ref("Organization", "o4"), {"reference": "Practitioner/x"}],
        },
    )
    put("other", {"resourceType": "Patient"})
    put(
        "s1",
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": ref("Patient", "p"),
            "endpoint": [ref("Endpoint", "e1")],
        },
    )
    put(
        "s2",
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": ref("Patient", "p"),
            "series": [{"uid": "1.2.3", "modality": {"code": "CT"}, "endpoint": [ref("Endpoint", "e2")]}],
        },
    )
    put("s3", {"resourceType": "ImagingStudy", "status": "available", "subject": ref("Patient", "p")})
    put(
        "s9",
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": ref("Patient", "other"),
            "endpoint": [ref("Endpoint", "e9")],
        },
    )
    return prefix


def _names(bundle: dict[str, Any], prefix: str) -> list[str]:
    return [e["resource"]["id"].removeprefix(f"{prefix}-") for e in bundle["entry"]]


def test_everything_returns_the_patient_compartment_with_hospitals(client: httpx.Client, prefix: str) -> None:
    response = client.get(f"/Patient/{prefix}-p/$everything")
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset" and bundle["total"] == 10
    assert _names(bundle, prefix) == ["p", "s1", "s2", "s3", "e1", "e2", "o1", "o2", "o3", "o4"]


def test_everything_pages_with_count(client: httpx.Client, prefix: str) -> None:
    url: str | None = f"/Patient/{prefix}-p/$everything?_count=4"
    seen: list[str] = []
    while url:
        bundle = client.get(url).json()
        seen += _names(bundle, prefix)
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    assert seen == ["p", "s1", "s2", "s3", "e1", "e2", "o1", "o2", "o3", "o4"]


def test_everything_type_and_since(client: httpx.Client, prefix: str) -> None:
    only = client.get(f"/Patient/{prefix}-p/$everything", params={"_type": "ImagingStudy,Endpoint"}).json()
    assert _names(only, prefix) == ["s1", "s2", "s3", "e1", "e2"]
    future = client.get(f"/Patient/{prefix}-p/$everything", params={"_since": "2999-01-01T00:00:00Z"}).json()
    assert future["total"] == 0
    assert client.get(f"/Patient/{prefix}-p/$everything", params={"_type": "Observation"}).status_code == 400
    assert client.get(f"/Patient/{prefix}-p/$everything", params={"_since": "soon"}).status_code == 400


def test_everything_of_an_unknown_patient_is_404(client: httpx.Client) -> None:
    assert client.get("/Patient/no-such-patient/$everything").status_code == 404
