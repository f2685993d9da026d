"""capabilities (https://hl7.org/fhir/R4/http.html#capabilities): generated from the code."""

from __future__ import annotations

import httpx
from fhir.resources.R4B.capabilitystatement import CapabilityStatement


def test_metadata_is_a_valid_capability_statement(client: httpx.Client) -> None:
    response = client.get("/metadata")
    assert response.status_code == 200
    CapabilityStatement.model_validate(response.json())
    body = response.json()
    assert body["fhirVersion"] == "4.0.1"
    assert body["format"][0] == "application/fhir+json"
    assert body["patchFormat"] == ["application/json-patch+json", "application/merge-patch+json"]


def test_metadata_lists_our_four_types_and_their_interactions(client: httpx.Client) -> None:
    rest = client.get("/metadata").json()["rest"][0]
    by_type = {r["type"]: r for r in rest["resource"]}
    for t in ("Patient", "Organization", "ImagingStudy", "Endpoint"):
        codes = {i["code"] for i in by_type[t]["interaction"]}
        assert {
            "read",
            "vread",
            "update",
            "patch",
            "delete",
            "history-instance",
            "history-type",
            "create",
        } <= codes
        assert by_type[t]["versioning"] == "versioned-update"
        assert by_type[t]["updateCreate"] is True
        assert "404" in by_type[t]["documentation"]
    assert {"code": "history-system"} in rest["interaction"]


def test_every_advertised_interaction_answers(client: httpx.Client) -> None:
    rest = client.get("/metadata").json()["rest"][0]
    for resource in rest["resource"]:
        t = resource["type"]
        codes = {i["code"] for i in resource["interaction"]}
        if "history-type" in codes:
            assert client.get(f"/{t}/_history").status_code == 200
        if "read" in codes:
            assert client.get(f"/{t}/not-there").status_code == 404
