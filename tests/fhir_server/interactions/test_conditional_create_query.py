"""Conditional create by query string (`POST [base]/Patient?identifier=…`, as fhirpy sends it): the same as
If-None-Exist, never ignored — also for a POST entry of a batch or transaction whose url carries a query.
(A match a patient token may not see is absent: tests/fhir_server/legacy/test_conditional_visibility.py)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

FHIR_JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture
def system() -> str:
    return f"urn:test:query-create:{uuid.uuid4().hex[:12]}"


def _patient(system: str, value: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": system, "value": value}], **extra}


def _ids(client: httpx.Client, system: str, value: str) -> list[str]:
    bundle = client.get("/Patient", params={"identifier": f"{system}|{value}"}).json()
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []))


def test_query_create_creates_once_then_returns_the_match(client: httpx.Client, system: str) -> None:
    params = {"identifier": f"{system}|1"}
    first = client.post("/Patient", params=params, json=_patient(system, "1"), headers=FHIR_JSON)
    assert first.status_code == 201
    again = client.post("/Patient", params=params, json=_patient(system, "1", active=True), headers=FHIR_JSON)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and "active" not in again.json()
    assert _ids(client, system, "1") == [first.json()["id"]]


def test_query_create_with_several_matches_is_412_and_creates_nothing(
    client: httpx.Client, system: str
) -> None:
    for _ in range(2):
        assert client.post("/Patient", json=_patient(system, "dup"), headers=FHIR_JSON).status_code == 201
    response = client.post(
        "/Patient", params={"identifier": f"{system}|dup"}, json=_patient(system, "dup"), headers=FHIR_JSON
    )
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"
    assert len(_ids(client, system, "dup")) == 2


def test_query_create_with_unknown_parameter_is_400_naming_it(client: httpx.Client, system: str) -> None:
    response = client.post(
        "/Patient", params={"colour": "blue"}, json=_patient(system, "c"), headers=FHIR_JSON
    )
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["colour"]
    assert _ids(client, system, "c") == []


def test_query_create_with_an_empty_parameter_is_400_naming_it(client: httpx.Client, system: str) -> None:
    response = client.post("/Patient?identifier=", json=_patient(system, "e"), headers=FHIR_JSON)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["identifier"]
    assert _ids(client, system, "e") == []


def test_query_create_differing_from_if_none_exist_is_400(client: httpx.Client, system: str) -> None:
    response = client.post(
        "/Patient",
        params={"identifier": f"{system}|a"},
        json=_patient(system, "a"),
        headers={**FHIR_JSON, "If-None-Exist": f"identifier={system}|b"},
    )
    assert response.status_code == 400
    assert _ids(client, system, "a") == []


def test_format_parameter_alone_is_a_plain_create(client: httpx.Client, system: str) -> None:
    for _ in range(2):
        response = client.post(
            "/Patient", params={"_format": "json"}, json=_patient(system, "f"), headers=FHIR_JSON
        )
        assert response.status_code == 201
    assert len(_ids(client, system, "f")) == 2


@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_bundle_post_url_query_is_a_conditional_create(client: httpx.Client, system: str, kind: str) -> None:
    def bundle(value: str) -> dict[str, Any]:
        entry = {
            "resource": _patient(system, value),
            "request": {"method": "POST", "url": f"Patient?identifier={system}|{value}"},
        }
        return {"resourceType": "Bundle", "type": kind, "entry": [entry]}

    first = client.post("", json=bundle("b"), headers=FHIR_JSON).json()["entry"][0]["response"]
    assert first["status"].startswith("201")
    again = client.post("", json=bundle("b"), headers=FHIR_JSON).json()["entry"][0]["response"]
    assert again["status"].startswith("200")
    assert _ids(client, system, "b") == [first["location"].split("/")[-3]]
    assert client.post("/Patient", json=_patient(system, "b"), headers=FHIR_JSON).status_code == 201
    many = client.post("", json=bundle("b"), headers=FHIR_JSON)
    if kind == "batch":
        assert many.json()["entry"][0]["response"]["status"].startswith("412")
    else:
        assert many.status_code == 412
    assert len(_ids(client, system, "b")) == 2
