"""Every error is an OperationOutcome with the right status and the path of the offending element."""

from __future__ import annotations

import httpx
import pytest

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def outcome(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    return body


def test_malformed_json_is_400(client: httpx.Client) -> None:
    response = client.post("/Patient", content=b'{"resourceType": "Patient",', headers=FHIR_JSON)
    assert response.status_code == 400
    assert "not valid JSON" in outcome(response)["issue"][0]["diagnostics"]


def test_empty_body_and_non_object_are_400(client: httpx.Client) -> None:
    assert client.post("/Patient", content=b"", headers=FHIR_JSON).status_code == 400
    assert client.post("/Patient", content=b"[1,2]", headers=FHIR_JSON).status_code == 400


def test_wrong_resource_type_for_url_is_400(client: httpx.Client) -> None:
    response = client.post("/Patient", json={"resourceType": "Organization"}, headers=FHIR_JSON)
    assert response.status_code == 400
    assert outcome(response)["issue"][0]["expression"] == ["resourceType"]


def test_missing_resource_type_is_400(client: httpx.Client) -> None:
    response = client.post("/Patient", json={"name": [{"family": "x"}]}, headers=FHIR_JSON)
    assert response.status_code == 400
    assert outcome(response)["issue"][0]["expression"] == ["resourceType"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"resourceType": "Patient", "colour": "blue"}, "Patient.colour"),
        ({"resourceType": "Patient", "name": [{"family": 42}]}, "Patient.name[0].family"),
        ({"resourceType": "Patient", "birthDate": "31/12/1990"}, "Patient.birthDate"),
        ({"resourceType": "Patient", "active": "yes"}, "Patient.active"),
        ({"resourceType": "Patient", "name": {"family": "x"}}, "Patient.name"),
        ({"resourceType": "ImagingStudy", "subject": {"reference": "Patient/1"}}, "ImagingStudy.status"),
        (
            {
                "resourceType": "ImagingStudy",
                "status": "available",
                "subject": {"reference": "Patient/1"},
                "series": [
                    {"uid": "1.2", "modality": {"code": "CT"}, "instance": [{"uid": "1", "sopClass": "x"}]}
                ],
            },
            "ImagingStudy.series[0].instance[0].sopClass",
        ),
    ],
)
def test_invalid_content_is_400_naming_the_element(
    client: httpx.Client, body: dict[str, object], path: str
) -> None:
    response = client.post(f"/{body['resourceType']}", json=body, headers=FHIR_JSON)
    assert response.status_code == 400, response.text
    expressions = [e for issue in outcome(response)["issue"] for e in issue.get("expression", [])]
    assert path in expressions


def test_invalid_id_in_body_is_400(client: httpx.Client) -> None:
    response = client.put(
        "/Patient/ok-id", json={"resourceType": "Patient", "id": "bad id!"}, headers=FHIR_JSON
    )
    assert response.status_code == 400
    assert (
        client.put(
            "/Patient/bad%20id", json={"resourceType": "Patient", "id": "bad id"}, headers=FHIR_JSON
        ).status_code
        == 400
    )


def test_body_too_large_is_413(client: httpx.Client) -> None:
    big = (
        b'{"resourceType":"Patient","text":{"status":"generated","div":"' + b"x" * (11 * 1024 * 1024) + b'"}}'
    )
    response = client.post("/Patient", content=big, headers=FHIR_JSON)
    assert response.status_code == 413
    assert outcome(response)["issue"][0]["code"] == "too-costly"


def test_xml_request_body_is_415(client: httpx.Client) -> None:
    response = client.post(
        "/Patient",
        content=b"<Patient xmlns='http://hl7.org/fhir'/>",
        headers={"Content-Type": "application/fhir+xml"},
    )
    assert response.status_code == 415
    assert "JSON" in outcome(response)["issue"][0]["diagnostics"]


def test_form_encoded_body_is_415(client: httpx.Client) -> None:
    response = client.post(
        "/Patient", content=b"a=b", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 415


def test_xml_accept_is_406_and_json_format_ok(client: httpx.Client) -> None:
    response = client.get("/metadata", headers={"Accept": "application/fhir+xml"})
    assert response.status_code == 406
    assert "JSON only" in outcome(response)["issue"][0]["diagnostics"]
    assert client.get("/metadata", params={"_format": "xml"}).status_code == 406
    assert client.get("/metadata", params={"_format": "json"}).status_code == 200
    assert client.get("/metadata", params={"_format": "application/fhir+json"}).status_code == 200
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert client.get("/metadata", headers={"Accept": browser}).status_code == 200


def test_unknown_route_is_404_and_wrong_method_is_405(client: httpx.Client) -> None:
    response = client.get("/Patient/1/2/3/4")
    assert response.status_code == 404
    outcome(response)
    wrong = client.put("/metadata", json={})
    assert wrong.status_code == 405
    outcome(wrong)
    on_instance = client.post("/Patient/some-id", json={"resourceType": "Patient"})
    assert on_instance.status_code == 405
    assert "allow" in on_instance.headers


def test_pretty_output(client: httpx.Client) -> None:
    response = client.get("/metadata", params={"_pretty": "true"})
    assert response.text.startswith('{\n  "resourceType"')


def test_invalid_prefer_is_400(client: httpx.Client) -> None:
    response = client.post(
        "/Patient", json={"resourceType": "Patient"}, headers={**FHIR_JSON, "Prefer": "return=everything"}
    )
    assert response.status_code == 400
