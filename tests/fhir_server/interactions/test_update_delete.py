"""update, delete and optimistic locking (https://hl7.org/fhir/R4/http.html#update, #delete, #concurrency)."""

from __future__ import annotations

import threading
import uuid

import httpx

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def patient(pid: str, family: str = "Doe") -> dict[str, object]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}]}


def test_update_as_create_with_client_id_is_201(client: httpx.Client) -> None:
    pid = f"client-{uuid.uuid4().hex[:12]}"
    response = client.put(f"/Patient/{pid}", json=patient(pid), headers=FHIR_JSON)
    assert response.status_code == 201
    assert response.headers["location"].endswith(f"/Patient/{pid}/_history/1")
    again = client.put(f"/Patient/{pid}", json=patient(pid, "Changed"), headers=FHIR_JSON)
    assert again.status_code == 200
    assert again.headers["etag"] == 'W/"2"'
    assert again.json()["meta"]["versionId"] == "2"


def test_update_id_mismatch_and_missing_id_are_400(client: httpx.Client) -> None:
    mismatch = client.put("/Patient/a1", json=patient("b2"), headers=FHIR_JSON)
    assert mismatch.status_code == 400
    assert mismatch.json()["issue"][0]["expression"] == ["Patient.id"]
    missing = client.put("/Patient/a1", json={"resourceType": "Patient"}, headers=FHIR_JSON)
    assert missing.status_code == 400
    assert missing.json()["issue"][0]["expression"] == ["Patient.id"]


def test_update_wrong_resource_type_is_400(client: httpx.Client) -> None:
    response = client.put("/Patient/a1", json={"resourceType": "Organization", "id": "a1"}, headers=FHIR_JSON)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["resourceType"]


def test_if_match_stale_version_is_412_and_current_version_succeeds(client: httpx.Client) -> None:
    pid = client.post("/Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON).json()["id"]
    ok = client.put(f"/Patient/{pid}", json=patient(pid), headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = client.put(f"/Patient/{pid}", json=patient(pid), headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["issue"][0]["code"] == "conflict"
    bad = client.put(f"/Patient/{pid}", json=patient(pid), headers={**FHIR_JSON, "If-Match": "nonsense"})
    assert bad.status_code == 400


def test_concurrent_writers_with_same_if_match_exactly_one_wins(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as c:
        pid = c.post("/Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON).json()["id"]
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def writer(n: int) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as c:
            barrier.wait()
            r = c.put(
                f"/Patient/{pid}", json=patient(pid, f"W{n}"), headers={**FHIR_JSON, "If-Match": 'W/"1"'}
            )
            statuses.append(r.status_code)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [412] * 7
    with httpx.Client(base_url=base_url) as c:
        history = c.get(f"/Patient/{pid}/_history").json()
    assert history["total"] == 2


def test_concurrent_writers_without_if_match_all_succeed_with_distinct_versions(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as c:
        pid = c.post("/Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON).json()["id"]
    versions: list[str] = []

    def writer(n: int) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as c:
            r = c.put(f"/Patient/{pid}", json=patient(pid, f"W{n}"), headers=FHIR_JSON)
            assert r.status_code == 200
            versions.append(r.headers["etag"])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(versions) == ['W/"2"', 'W/"3"', 'W/"4"', 'W/"5"']


def test_delete_then_read_is_410_and_history_keeps_versions(client: httpx.Client) -> None:
    pid = client.post("/Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON).json()["id"]
    deleted = client.delete(f"/Patient/{pid}")
    assert deleted.status_code == 200
    assert deleted.json()["resourceType"] == "OperationOutcome"
    assert client.get(f"/Patient/{pid}").status_code == 410
    again = client.delete(f"/Patient/{pid}")
    assert again.status_code == 200  # idempotent, no new version
    history = client.get(f"/Patient/{pid}/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert "resource" not in history["entry"][0]


def test_delete_missing_is_404_and_minimal_is_204(client: httpx.Client) -> None:
    assert client.delete(f"/Patient/{uuid.uuid4()}").status_code == 404
    pid = client.post("/Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON).json()["id"]
    assert client.delete(f"/Patient/{pid}", headers={"Prefer": "return=minimal"}).status_code == 204


def test_update_after_delete_recreates_with_next_version(client: httpx.Client) -> None:
    pid = client.post("/Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON).json()["id"]
    client.delete(f"/Patient/{pid}")
    response = client.put(f"/Patient/{pid}", json=patient(pid), headers=FHIR_JSON)
    assert response.status_code == 201
    assert response.headers["etag"] == 'W/"3"'


def test_delete_with_stale_if_match_is_412(client: httpx.Client) -> None:
    pid = client.post("/Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON).json()["id"]
    assert client.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"2"'}).status_code == 412
    assert client.get(f"/Patient/{pid}").status_code == 200


def test_prefer_return_minimal_and_operation_outcome(client: httpx.Client) -> None:
    minimal = client.post(
        "/Patient", json={"resourceType": "Patient"}, headers={**FHIR_JSON, "Prefer": "return=minimal"}
    )
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert minimal.headers["location"]
    outcome = client.post(
        "/Patient",
        json={"resourceType": "Patient"},
        headers={**FHIR_JSON, "Prefer": "return=OperationOutcome"},
    )
    assert outcome.status_code == 201
    assert outcome.json()["resourceType"] == "OperationOutcome"
    assert outcome.json()["issue"][0]["severity"] == "information"
    rep = client.post(
        "/Patient", json={"resourceType": "Patient"}, headers={**FHIR_JSON, "Prefer": "return=representation"}
    )
    assert rep.json()["resourceType"] == "Patient"
