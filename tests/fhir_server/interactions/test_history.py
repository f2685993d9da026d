"""history at instance, type and system level (https://hl7.org/fhir/R4/http.html#history)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def test_instance_history_newest_first_with_paging(client: httpx.Client) -> None:
    pid = f"h-{uuid.uuid4().hex[:10]}"
    for n in range(5):
        client.put(
            f"/Patient/{pid}",
            json={"resourceType": "Patient", "id": pid, "name": [{"family": f"F{n}"}]},
            headers=FHIR_JSON,
        )
    page = client.get(f"/Patient/{pid}/_history", params={"_count": 2}).json()
    assert page["type"] == "history"
    assert page["total"] == 5
    seen = [e["resource"]["meta"]["versionId"] for e in page["entry"]]
    while next_link := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
        page = httpx.get(next_link).json()
        seen += [e["resource"]["meta"]["versionId"] for e in page["entry"]]
    assert seen == ["5", "4", "3", "2", "1"]
    first = client.get(f"/Patient/{pid}/_history").json()["entry"]
    assert first[-1]["request"] == {"method": "PUT", "url": f"Patient/{pid}"}
    assert first[-1]["response"]["status"] == "200 OK"
    assert first[0]["response"]["etag"] == 'W/"5"'


def test_paging_stays_correct_while_data_changes(client: httpx.Client) -> None:
    pid = f"h-{uuid.uuid4().hex[:10]}"
    for _ in range(4):
        client.put(
            f"/Patient/{pid}",
            json={"resourceType": "Patient", "id": pid, "gender": "male"},
            headers=FHIR_JSON,
        )
    page1 = client.get(f"/Patient/{pid}/_history", params={"_count": 2}).json()
    # A write between pages must neither duplicate nor skip entries of the listing already started.
    client.put(f"/Patient/{pid}", json={"resourceType": "Patient", "id": pid}, headers=FHIR_JSON)
    next_url = next(link["url"] for link in page1["link"] if link["relation"] == "next")
    page2 = httpx.get(next_url).json()
    versions = [e["resource"]["meta"]["versionId"] for e in page1["entry"] + page2["entry"]]
    assert versions == ["4", "3", "2", "1"]


def test_type_history_since(client: httpx.Client) -> None:
    client.post("/Organization", json={"resourceType": "Organization", "name": "Before"}, headers=FHIR_JSON)
    time.sleep(0.05)
    since = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    time.sleep(0.05)
    created = client.post(
        "/Organization", json={"resourceType": "Organization", "name": "After"}, headers=FHIR_JSON
    ).json()
    page = client.get("/Organization/_history", params={"_since": since}).json()
    assert [e["resource"]["id"] for e in page["entry"]] == [created["id"]]
    assert page["entry"][0]["request"] == {"method": "POST", "url": "Organization"}


def test_system_history_spans_types(client: httpx.Client) -> None:
    since = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    time.sleep(0.05)
    org = client.post("/Organization", json={"resourceType": "Organization"}, headers=FHIR_JSON).json()
    pat = client.post("/Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON).json()
    page = client.get("/_history", params={"_since": since, "_count": 1}).json()
    got = [page["entry"][0]["fullUrl"]]
    page2 = httpx.get(next(link["url"] for link in page["link"] if link["relation"] == "next")).json()
    got.append(page2["entry"][0]["fullUrl"])
    assert [u.split("/fhir/")[1] for u in got] == [f"Patient/{pat['id']}", f"Organization/{org['id']}"]


def test_history_bad_parameters_are_400(client: httpx.Client) -> None:
    assert client.get("/_history", params={"_since": "yesterday"}).status_code == 400
    assert client.get("/_history", params={"_count": "-1"}).status_code == 400
    assert client.get("/_history", params={"_page": "garbage"}).status_code == 400
    assert client.get("/Patient/does-not-exist/_history").status_code == 404
    assert client.get("/Observation/_history").status_code == 404
