"""Conditional create, update and delete (https://hl7.org/fhir/R4/http.html#ccreate, #cond-update,
#cdelete), including two concurrent conditional creates of one identifier making ONE resource."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fhir_server.search.locks import COLLECTION, criteria_key
from fhir_server.settings import Settings
from fhir_server.storage.connection import connect
from tests.server_process import RunningServer


@pytest.fixture
def system() -> str:
    return f"urn:test:conditional:{uuid.uuid4().hex[:12]}"


def _patient(system: str, value: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": system, "value": value}], **extra}


def _ids(client: httpx.Client, system: str, value: str) -> list[str]:
    bundle = client.get("/Patient", params={"identifier": f"{system}|{value}"}).json()
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []))


def test_if_none_exist_creates_once_then_returns_the_match(client: httpx.Client, system: str) -> None:
    header = {"If-None-Exist": f"identifier={system}|1"}
    first = client.post("/Patient", json=_patient(system, "1"), headers=header)
    assert first.status_code == 201
    again = client.post("/Patient", json=_patient(system, "1", active=True), headers=header)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and "active" not in again.json()
    assert _ids(client, system, "1") == [first.json()["id"]]


def test_if_none_exist_with_several_matches_is_412(client: httpx.Client, system: str) -> None:
    for _ in range(2):
        assert client.post("/Patient", json=_patient(system, "dup")).status_code == 201
    response = client.post(
        "/Patient", json=_patient(system, "dup"), headers={"If-None-Exist": f"identifier={system}|dup"}
    )
    assert response.status_code == 412
    assert len(_ids(client, system, "dup")) == 2


@pytest.mark.parametrize(
    ("header", "expression"), [("colour=blue", "colour"), ("", "If-None-Exist"), ("_count=1", "_count")]
)
def test_if_none_exist_criteria_must_be_known_search_parameters(
    client: httpx.Client, system: str, header: str, expression: str
) -> None:
    response = client.post("/Patient", json=_patient(system, "x"), headers={"If-None-Exist": header})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == [expression]


def test_concurrent_conditional_creates_make_one_resource(base_url: str, system: str) -> None:
    def create(_: int) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=60) as c:
            return c.post(
                "/Patient",
                json=_patient(system, "race"),
                headers={"If-None-Exist": f"identifier={system}|race"},
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(create, range(8)))
    assert sorted(r.status_code for r in responses).count(201) == 1
    assert {r.status_code for r in responses} <= {200, 201}
    with httpx.Client(base_url=base_url) as c:
        (only,) = _ids(c, system, "race")
    assert {r.json()["id"] for r in responses} == {only}


def test_an_expired_lock_of_a_crashed_writer_does_not_block(
    client: httpx.Client, server: RunningServer, system: str
) -> None:
    connection = connect(Settings(data_dir=server.data_dir), "cli")
    try:
        key = criteria_key("Patient", [("identifier", f"{system}|stale")])
        connection.db[COLLECTION].insert_one(
            {"_id": key, "owner": "crashed", "expires": datetime.now(UTC) - timedelta(seconds=1)}
        )
        response = client.post(
            "/Patient",
            json=_patient(system, "stale"),
            headers={"If-None-Exist": f"identifier={system}|stale"},
        )
        assert response.status_code == 201
        assert connection.db[COLLECTION].count_documents({"_id": key}) == 0
    finally:
        connection.close()


def test_conditional_update_creates_updates_and_refuses_ambiguity(client: httpx.Client, system: str) -> None:
    url = f"/Patient?identifier={system}|u1"
    created = client.put(url, json=_patient(system, "u1", gender="male"))
    assert created.status_code == 201
    resource_id = created.json()["id"]
    updated = client.put(url, json=_patient(system, "u1", gender="female"))
    assert updated.status_code == 200
    assert updated.json()["id"] == resource_id and updated.json()["meta"]["versionId"] == "2"
    assert client.get(f"/Patient/{resource_id}").json()["gender"] == "female"
    wrong_id = client.put(url, json={**_patient(system, "u1"), "id": "someone-else"})
    assert wrong_id.status_code == 400
    stale = client.put(url, json=_patient(system, "u1"), headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert client.post("/Patient", json=_patient(system, "u1")).status_code == 201
    assert client.put(url, json=_patient(system, "u1")).status_code == 412


def test_conditional_update_without_match_uses_the_body_id(client: httpx.Client, system: str) -> None:
    resource_id = f"cond-{uuid.uuid4().hex[:12]}"
    response = client.put(
        f"/Patient?identifier={system}|u2", json={**_patient(system, "u2"), "id": resource_id}
    )
    assert response.status_code == 201 and response.json()["id"] == resource_id
    other = client.put(f"/Patient?identifier={system}|u3", json={**_patient(system, "u3"), "id": resource_id})
    assert other.status_code == 409  # the id exists but does not match the criteria


def test_conditional_delete_removes_every_match(client: httpx.Client, system: str) -> None:
    for _ in range(3):
        client.post("/Patient", json=_patient(system, "d"))
    response = client.delete(f"/Patient?identifier={system}|d")
    assert response.status_code == 200
    assert "Deleted 3" in response.json()["issue"][0]["diagnostics"]
    assert _ids(client, system, "d") == []
    nothing = client.delete(f"/Patient?identifier={system}|d")
    assert nothing.status_code == 200 and "nothing was deleted" in nothing.json()["issue"][0]["diagnostics"]


def test_conditional_delete_needs_criteria(client: httpx.Client) -> None:
    response = client.delete("/Patient")
    assert response.status_code == 400
    assert client.delete("/Patient?colour=blue").status_code == 400
