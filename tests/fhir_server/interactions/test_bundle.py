"""batch and transaction (https://hl7.org/fhir/R4/http.html#transaction)."""

from __future__ import annotations

import uuid

import httpx

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def tx(entries: list[dict[str, object]], kind: str = "transaction") -> dict[str, object]:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def test_transaction_resolves_urn_uuid_references(client: httpx.Client) -> None:
    org_urn, pat_urn = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    bundle = tx(
        [
            {
                "fullUrl": pat_urn,
                "resource": {"resourceType": "Patient", "managingOrganization": {"reference": org_urn}},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": org_urn,
                "resource": {"resourceType": "Organization", "name": "TX Hospital"},
                "request": {"method": "POST", "url": "Organization"},
            },
        ]
    )
    response = client.post("", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    patient_location = body["entry"][0]["response"]["location"]
    org_location = body["entry"][1]["response"]["location"]
    patient = client.get("/" + patient_location.split("/_history")[0]).json()
    assert patient["managingOrganization"]["reference"] == org_location.split("/_history")[0]
    assert body["entry"][0]["response"]["etag"] == 'W/"1"'


def test_transaction_is_atomic(client: httpx.Client) -> None:
    marker = uuid.uuid4().hex
    pid = f"tx-{marker[:12]}"
    bundle = tx(
        [
            {
                "resource": {"resourceType": "Patient", "id": pid, "name": [{"family": marker}]},
                "request": {"method": "PUT", "url": f"Patient/{pid}"},
            },
            {
                "resource": {"resourceType": "Patient", "gender": "M"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ]
    )
    response = client.post("", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].Patient.gender"]
    assert client.get(f"/Patient/{pid}").status_code == 404  # the first entry was rolled back


def test_transaction_order_delete_before_post_and_if_match(client: httpx.Client) -> None:
    pid = client.post("/Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON).json()["id"]
    bundle = tx(
        [
            {
                "resource": {"resourceType": "Patient", "id": pid, "gender": "female"},
                "request": {"method": "PUT", "url": f"Patient/{pid}", "ifMatch": 'W/"1"'},
            },
            {"request": {"method": "GET", "url": f"Patient/{pid}"}},
        ]
    )
    body = client.post("", json=bundle, headers=FHIR_JSON).json()
    assert body["entry"][0]["response"]["status"] == "200 OK"
    assert body["entry"][1]["resource"]["gender"] == "female"
    stale = tx(
        [
            {
                "resource": {"resourceType": "Patient", "id": pid},
                "request": {"method": "PUT", "url": f"Patient/{pid}", "ifMatch": 'W/"1"'},
            }
        ]
    )
    assert client.post("", json=stale, headers=FHIR_JSON).status_code == 412
    delete = tx([{"request": {"method": "DELETE", "url": f"Patient/{pid}"}}])
    assert (
        client.post("", json=delete, headers=FHIR_JSON).json()["entry"][0]["response"]["status"] == "200 OK"
    )
    assert client.get(f"/Patient/{pid}").status_code == 410


def test_batch_entries_fail_independently(client: httpx.Client) -> None:
    bundle = tx(
        [
            {
                "resource": {"resourceType": "Patient", "gender": "female"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {"resourceType": "Patient", "gender": "F"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
        ],
        kind="batch",
    )
    body = client.post("", json=bundle, headers=FHIR_JSON).json()
    assert body["type"] == "batch-response"
    assert [e["response"]["status"] for e in body["entry"]] == [
        "201 Created",
        "400 Bad Request",
        "404 Not Found",
    ]
    assert body["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"


def test_unresolvable_urn_uuid_and_bad_bundles_are_rejected(client: httpx.Client) -> None:
    dangling = tx(
        [
            {
                "resource": {
                    "resourceType": "Patient",
                    "managingOrganization": {"reference": "urn:uuid:nope"},
                },
                "request": {"method": "POST", "url": "Patient"},
            }
        ]
    )
    assert client.post("", json=dangling, headers=FHIR_JSON).status_code == 404
    assert (
        client.post("", json={"resourceType": "Bundle", "type": "collection"}, headers=FHIR_JSON).status_code
        == 400
    )
    assert client.post("", json={"resourceType": "Patient"}, headers=FHIR_JSON).status_code == 400
    no_request = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"resource": {"resourceType": "Patient"}}],
    }
    response = client.post("", json=no_request, headers=FHIR_JSON)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[0].request"]


def test_entry_last_modified_is_a_fhir_instant_of_the_stored_version(client: httpx.Client) -> None:
    pid = f"lm-{uuid.uuid4().hex[:8]}"
    patient = {"resourceType": "Patient", "id": pid}
    for kind in ("batch", "transaction"):
        response = client.post(
            "",
            json=tx(
                [
                    {"request": {"method": "PUT", "url": f"Patient/{pid}"}, "resource": patient},
                    {
                        "request": {"method": "POST", "url": "Organization"},
                        "resource": {"resourceType": "Organization"},
                    },
                    {"request": {"method": "GET", "url": f"Patient/{pid}"}},
                ],
                kind,
            ),
            headers=FHIR_JSON,
        )
        assert response.status_code == 200, response.text
        stored = client.get(f"/Patient/{pid}").json()["meta"]["lastUpdated"]
        put, post, read = (e["response"] for e in response.json()["entry"])
        # An instant (https://hl7.org/fhir/R4/datatypes.html#instant), never the HTTP date of a header.
        assert put["lastModified"] == read["lastModified"] == stored
        assert post["lastModified"].endswith("Z") and "T" in post["lastModified"]
