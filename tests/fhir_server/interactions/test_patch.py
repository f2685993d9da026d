"""JSON Patch (https://hl7.org/fhir/R4/http.html#patch)."""

from __future__ import annotations

import httpx
import pytest

FHIR_JSON = {"Content-Type": "application/fhir+json"}
PATCH = {"Content-Type": "application/json-patch+json"}


def make_patient(client: httpx.Client) -> str:
    body = {"resourceType": "Patient", "name": [{"family": "Before"}], "gender": "male"}
    return str(client.post("/Patient", json=body, headers=FHIR_JSON).json()["id"])


def test_patch_applies_and_bumps_version(client: httpx.Client) -> None:
    pid = make_patient(client)
    ops = [
        {"op": "replace", "path": "/name/0/family", "value": "After"},
        {"op": "add", "path": "/birthDate", "value": "1970-05-06"},
    ]
    response = client.patch(f"/Patient/{pid}", json=ops, headers=PATCH)
    assert response.status_code == 200
    assert response.json()["name"][0]["family"] == "After"
    assert response.json()["birthDate"] == "1970-05-06"
    assert response.headers["etag"] == 'W/"2"'
    history = client.get(f"/Patient/{pid}/_history").json()
    assert history["entry"][0]["request"]["method"] == "PATCH"


def test_patch_failing_test_op_is_422_and_nothing_changes(client: httpx.Client) -> None:
    pid = make_patient(client)
    ops = [{"op": "test", "path": "/gender", "value": "female"}, {"op": "remove", "path": "/gender"}]
    assert client.patch(f"/Patient/{pid}", json=ops, headers=PATCH).status_code == 422
    assert client.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "1"


def test_patch_producing_invalid_resource_is_422_with_path(client: httpx.Client) -> None:
    pid = make_patient(client)
    ops = [{"op": "add", "path": "/birthDate", "value": "not-a-date"}]
    response = client.patch(f"/Patient/{pid}", json=ops, headers=PATCH)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Patient.birthDate"]


def test_patch_may_not_change_id(client: httpx.Client) -> None:
    pid = make_patient(client)
    response = client.patch(
        f"/Patient/{pid}", json=[{"op": "replace", "path": "/id", "value": "x"}], headers=PATCH
    )
    assert response.status_code == 422


def test_malformed_patch_document_is_400(client: httpx.Client) -> None:
    pid = make_patient(client)
    assert client.patch(f"/Patient/{pid}", json={"op": "replace"}, headers=PATCH).status_code == 400
    assert (
        client.patch(f"/Patient/{pid}", json=[{"op": "jump", "path": "/x"}], headers=PATCH).status_code == 400
    )


def test_patch_with_wrong_content_type_is_415(client: httpx.Client) -> None:
    pid = make_patient(client)
    response = client.patch(f"/Patient/{pid}", json=[], headers=FHIR_JSON)
    assert response.status_code == 415
    assert "FHIRPath Patch" in response.json()["issue"][0]["diagnostics"]


def test_patch_if_match_stale_is_412(client: httpx.Client) -> None:
    pid = make_patient(client)
    ops = [{"op": "replace", "path": "/gender", "value": "female"}]
    assert (
        client.patch(f"/Patient/{pid}", json=ops, headers={**PATCH, "If-Match": 'W/"5"'}).status_code == 412
    )
    assert (
        client.patch(f"/Patient/{pid}", json=ops, headers={**PATCH, "If-Match": 'W/"1"'}).status_code == 200
    )


def test_patch_missing_resource_is_404(client: httpx.Client) -> None:
    assert client.patch("/Patient/nope-nope", json=[], headers=PATCH).status_code == 404


MERGE = {"Content-Type": "application/merge-patch+json"}


def test_merge_patch_replaces_adds_and_removes(client: httpx.Client) -> None:
    pid = make_patient(client)
    patch = {"name": [{"family": "Merged"}], "birthDate": "1970-05-06", "gender": None}
    response = client.patch(f"/Patient/{pid}", json=patch, headers=MERGE)
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == [{"family": "Merged"}] and body["birthDate"] == "1970-05-06"
    assert "gender" not in body and response.headers["etag"] == 'W/"2"'
    assert client.get(f"/Patient/{pid}").json()["name"] == [{"family": "Merged"}]
    history = client.get(f"/Patient/{pid}/_history").json()
    assert history["entry"][0]["request"]["method"] == "PATCH"


def test_merge_patch_if_match_is_version_aware(client: httpx.Client) -> None:
    pid = make_patient(client)
    stale = client.patch(f"/Patient/{pid}", json={"gender": "female"}, headers={**MERGE, "If-Match": 'W/"9"'})
    assert stale.status_code == 412
    fresh = client.patch(f"/Patient/{pid}", json={"gender": "female"}, headers={**MERGE, "If-Match": 'W/"1"'})
    assert fresh.status_code == 200 and fresh.json()["gender"] == "female"
    assert client.get(f"/Patient/{pid}").json()["gender"] == "female"


def test_merge_patch_giving_an_invalid_resource_names_the_element(client: httpx.Client) -> None:
    pid = make_patient(client)
    response = client.patch(f"/Patient/{pid}", json={"gender": "sometimes"}, headers=MERGE)
    assert response.status_code in (400, 422)
    issue = response.json()["issue"][0]
    assert response.json()["resourceType"] == "OperationOutcome"
    assert issue["expression"] == ["Patient.gender"]
    assert client.get(f"/Patient/{pid}").json()["gender"] == "male"  # nothing written


def test_merge_patch_must_be_an_object_and_keep_the_id(client: httpx.Client) -> None:
    pid = make_patient(client)
    assert client.patch(f"/Patient/{pid}", json=[{"op": "add"}], headers=MERGE).status_code == 400
    assert client.patch(f"/Patient/{pid}", json={"id": "other"}, headers=MERGE).status_code == 422


@pytest.mark.parametrize("media", ["application/xml", "text/plain", "application/fhir+json"])
def test_unsupported_patch_types_are_415_naming_what_is_supported(client: httpx.Client, media: str) -> None:
    pid = make_patient(client)
    response = client.patch(f"/Patient/{pid}", content=b"{}", headers={"Content-Type": media})
    assert response.status_code == 415
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert "application/json-patch+json" in diagnostics and "application/merge-patch+json" in diagnostics
