"""Terminology operations over HTTP, at type and instance level, GET and POST (spec examples)."""

from __future__ import annotations

import httpx

FHIR_JSON = {"Content-Type": "application/fhir+json"}
GENDER = "http://hl7.org/fhir/administrative-gender"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
CID29 = "http://hl7.org/fhir/ValueSet/dicom-cid29"
LEGACY = "https://fhir.imaging-federation.example/CodeSystem/legacy-modality"


def param(parameters: dict[str, object], name: str) -> object:
    for p in parameters["parameter"]:  # type: ignore[index]
        if p["name"] == name:
            return next(v for k, v in p.items() if k.startswith("value"))
    raise KeyError(name)


def test_lookup_get_and_post(client: httpx.Client) -> None:
    got = client.get("/CodeSystem/$lookup", params={"system": GENDER, "code": "male"})
    assert got.status_code == 200
    assert param(got.json(), "display") == "Male"
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "system", "valueUri": DCM}, {"name": "code", "valueCode": "CT"}],
    }
    posted = client.post("/CodeSystem/$lookup", json=body, headers=FHIR_JSON)
    assert param(posted.json(), "display") == "Computed Tomography"


def test_lookup_unknown_code_is_404_outcome(client: httpx.Client) -> None:
    response = client.get("/CodeSystem/$lookup", params={"system": GENDER, "code": "martian"})
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_validate_code_acquisition_modality(client: httpx.Client) -> None:
    ok = client.get("/ValueSet/$validate-code", params={"url": CID29, "system": DCM, "code": "CT"}).json()
    assert param(ok, "result") is True
    sr = client.get("/ValueSet/$validate-code", params={"url": CID29, "system": DCM, "code": "SR"}).json()
    assert param(sr, "result") is False


def test_validate_code_instance_level(client: httpx.Client) -> None:
    response = client.get(
        "/ValueSet/administrative-gender/$validate-code", params={"system": GENDER, "code": "other"}
    )
    assert param(response.json(), "result") is True


def test_expand_with_filter_count_offset(client: httpx.Client) -> None:
    expansion = client.get("/ValueSet/$expand", params={"url": CID29, "filter": "tomo"}).json()["expansion"]
    codes = {c["code"] for c in expansion["contains"]}
    assert "CT" in codes
    page = client.get(
        "/ValueSet/$expand",
        params={
            "url": GENDER.replace("/administrative", "/ValueSet/administrative"),
            "count": 2,
            "offset": 1,
        },
    ).json()["expansion"]
    assert page["total"] == 4
    assert page["offset"] == 1
    assert [c["code"] for c in page["contains"]] == ["female", "other"]


def test_translate_legacy_modalities(client: httpx.Client) -> None:
    ct = client.get("/ConceptMap/$translate", params={"system": LEGACY, "code": "ct"}).json()
    assert param(ct, "result") is True
    match = next(p for p in ct["parameter"] if p["name"] == "match")
    concept = next(part for part in match["part"] if part["name"] == "concept")["valueCoding"]
    assert (concept["system"], concept["code"]) == (DCM, "CT")
    unmapped = client.get("/ConceptMap/$translate", params={"system": LEGACY, "code": "Other"}).json()
    assert param(unmapped, "result") is False


def test_terminology_resources_are_served_read_only(client: httpx.Client) -> None:
    found = client.get("/ValueSet", params={"url": CID29}).json()
    assert found["total"] == 1
    vs_id = found["entry"][0]["resource"]["id"]
    assert client.get(f"/ValueSet/{vs_id}").json()["url"] == CID29
    assert client.post("/ValueSet", json={"resourceType": "ValueSet"}, headers=FHIR_JSON).status_code == 405
    assert client.delete(f"/ValueSet/{vs_id}").status_code == 405
    assert client.get("/NamingSystem").json()["total"] >= 4
    assert client.get("/ConceptMap/nope").status_code == 404


def test_unknown_value_set_and_missing_parameter_are_errors(client: httpx.Client) -> None:
    assert client.get("/ValueSet/$expand", params={"url": "http://example.org/nope"}).status_code == 404
    missing = client.get("/CodeSystem/$lookup", params={"code": "male"})
    assert missing.status_code == 400
    assert client.get("/ValueSet/$lookup").status_code == 404


def test_capability_statement_lists_operations(client: httpx.Client) -> None:
    resources = {r["type"]: r for r in client.get("/metadata").json()["rest"][0]["resource"]}
    assert {o["name"] for o in resources["ValueSet"]["operation"]} == {"validate-code", "expand"}
    assert {o["name"] for o in resources["CodeSystem"]["operation"]} == {"lookup"}
    assert {o["name"] for o in resources["ConceptMap"]["operation"]} == {"translate"}
    assert "validate" in {o["name"] for o in resources["Patient"]["operation"]}
