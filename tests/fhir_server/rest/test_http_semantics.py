"""HTTP semantics the adapter decides once for every row of the route table (RFC 9110): HEAD wherever GET is
answered, 405 with the `Allow` the table gives, and feature routes under the base left to their features."""

from __future__ import annotations

import httpx


def _patient(client: httpx.Client) -> str:
    created = client.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Head"}]})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_head_is_answered_wherever_get_is(client: httpx.Client) -> None:
    pid = _patient(client)
    for path in (f"/Patient/{pid}", "/metadata", f"/Patient?_id={pid}", f"/Patient/{pid}/_history/1"):
        got = client.get(path)
        head = client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers.get("etag") == got.headers.get("etag")
    # And as GET would: an absent resource is 404 to HEAD too.
    assert client.head("/Patient/no-such-patient").status_code == 404


def test_a_method_the_table_does_not_take_is_405_with_allow(client: httpx.Client) -> None:
    pid = _patient(client)
    answer = client.delete(f"/Patient/{pid}/_history/1")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"
    assert answer.json()["resourceType"] == "OperationOutcome"
    on_instance = client.post(f"/Patient/{pid}", json={"resourceType": "Patient"})
    assert on_instance.status_code == 405
    assert set(on_instance.headers["allow"].split(", ")) == {"DELETE", "GET", "HEAD", "PATCH", "PUT"}
    on_base = client.get("/")
    assert on_base.status_code == 405 and on_base.headers["allow"] == "POST"


def test_feature_routes_under_the_base_are_not_taken_by_the_table(client: httpx.Client) -> None:
    discovery = client.get("/.well-known/smart-configuration")
    assert discovery.status_code == 200
    assert "token_endpoint" in discovery.json()
    assert client.get("/no-such-thing/at/all/here").status_code == 404


def test_head_on_every_kind_of_route(client: httpx.Client, base_url: str) -> None:
    """Not only the FHIR rows: the dashboard, health, the SMART discovery document, the OpenAPI document."""
    origin = base_url.removesuffix("/fhir")
    for path in ("/health/live", "/app/", "/openapi.json", "/fhir/.well-known/smart-configuration"):
        got = client.get(origin + path)
        head = client.head(origin + path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path


def test_a_405_outside_the_fhir_api_names_what_is_allowed(client: httpx.Client, base_url: str) -> None:
    origin = base_url.removesuffix("/fhir")
    answer = client.delete(origin + "/health/live")
    assert answer.status_code == 405
    assert "GET" in answer.headers["allow"]
    assert answer.json()["resourceType"] == "OperationOutcome"
