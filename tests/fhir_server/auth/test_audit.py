"""AuditEvents (fhir_server.auth.audit): token issued or refused, access denied, reads and writes of
patient data — stored as R4 AuditEvent JSON and searchable by admins at [base]/AuditEvent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fhir.resources.R4B.auditevent import AuditEvent

from tests.fhir_server.auth.smart_support import PATIENT_A, PATIENT_B, STUDY_A, SmartServer, wait_for


def _search(smart: SmartServer, **params: str) -> dict:  # type: ignore[type-arg]
    with smart.client(smart.mint("admin")) as admin:
        response = admin.get("/AuditEvent", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_read_of_patient_data_is_audited(smart: SmartServer) -> None:
    who = f"auditor-{uuid.uuid4().hex[:8]}"
    with smart.client(smart.mint("user/*.rs", subject=who, role="clinician")) as c:
        assert c.get(f"/ImagingStudy/{STUDY_A}").status_code == 200
        assert c.get("/Organization/legacy-hos-001").status_code == 200
    bundle = _search(smart, agent=who)
    assert bundle["total"] == 1  # the hospital is not patient data
    event = bundle["entry"][0]["resource"]
    AuditEvent.model_validate(event)
    assert (
        event["type"]["code"] == "rest" and event["subtype"][0]["code"] == "read" and event["outcome"] == "0"
    )
    whats = {e["what"]["reference"] for e in event["entity"]}
    assert whats == {f"ImagingStudy/{STUDY_A}", f"Patient/{PATIENT_A}"}
    assert any(a["who"].get("identifier", {}).get("value") == who for a in event["agent"])
    assert _search(smart, agent=who, entity=f"ImagingStudy/{STUDY_A}", type="read")["total"] == 1
    assert _search(smart, agent=who, patient=PATIENT_A)["total"] == 1
    assert _search(smart, agent=who, type="create")["total"] == 0


def test_denied_access_is_audited(smart: SmartServer) -> None:
    who = f"intruder-{uuid.uuid4().hex[:8]}"
    with smart.client(smart.mint("patient/*.rs", patient=PATIENT_A, subject=who)) as c:
        # Answered as absent (no existence oracle), audited as the denial it is.
        assert c.get(f"/Patient/{PATIENT_B}").status_code == 404
    bundle = _search(smart, agent=who, type="110113")
    assert bundle["total"] == 1
    event = bundle["entry"][0]["resource"]
    assert event["outcome"] == "4" and "do not allow read" in event["outcomeDesc"]
    assert {e["what"]["reference"] for e in event["entity"]} == {f"Patient/{PATIENT_B}"}


def test_writes_are_audited(smart: SmartServer) -> None:
    who = f"writer-{uuid.uuid4().hex[:8]}"
    pid = f"aud-{uuid.uuid4().hex[:8]}"
    with smart.client(smart.mint("system/*.cruds", subject=who, role=None)) as c:
        body = {"resourceType": "Patient", "id": pid}
        assert (
            c.put(f"/Patient/{pid}", json=body, headers={"Content-Type": "application/fhir+json"}).status_code
            == 201
        )
        assert c.delete(f"/Patient/{pid}").status_code == 200
    codes = sorted(e["resource"]["subtype"][0]["code"] for e in _search(smart, agent=who)["entry"])
    assert codes == ["delete", "update"]


def test_token_issuance_is_audited(smart: SmartServer) -> None:
    from tests.fhir_server.auth.test_backend_services import fetch

    fetch(smart, "backend-rs384", smart.rs384_key, "RS384")
    bundle = _search(smart, agent="backend-rs384", type="110114", outcome="0")
    assert bundle["total"] >= 1
    assert bundle["entry"][0]["resource"]["subtype"][0]["code"] == "110122"


def test_date_search_and_paging(smart: SmartServer) -> None:
    who = f"pager-{uuid.uuid4().hex[:8]}"
    with smart.client(smart.mint("user/*.rs", subject=who, role="clinician")) as c:
        for _ in range(3):
            c.get(f"/Patient/{PATIENT_A}")
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _search(smart, agent=who, date=f"ge{since}")["total"] == 3
    assert _search(smart, agent=who, date="lt2000-01-01")["total"] == 0
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert wait_for(lambda: _search(smart, agent=who, date=today)["total"] == 3)
    page = _search(smart, agent=who, _count="2")
    assert len(page["entry"]) == 2 and any(link["relation"] == "next" for link in page["link"])


def test_audit_events_are_for_admins_only(smart: SmartServer) -> None:
    event_id = _search(smart, _count="1")["entry"][0]["resource"]["id"]
    with smart.client(smart.mint("system/*.cruds", role=None)) as c:
        assert c.get("/AuditEvent").status_code == 403
        assert c.get(f"/AuditEvent/{event_id}").status_code == 403
    with smart.client(smart.mint("admin")) as admin:
        assert admin.get(f"/AuditEvent/{event_id}").json()["id"] == event_id
        assert admin.get("/AuditEvent/nope").status_code == 404
        assert admin.post("/AuditEvent", json={"resourceType": "AuditEvent"}).status_code == 405
        assert admin.get("/AuditEvent", params={"colour": "red"}).status_code == 400


def test_searches_of_patient_data_are_audited(smart: SmartServer) -> None:
    who = f"searcher-{uuid.uuid4().hex[:8]}"
    with smart.client(smart.mint("user/*.rs", subject=who, role="clinician")) as c:
        assert c.get("/ImagingStudy", params={"patient": PATIENT_A}).status_code == 200
        assert c.get("/Organization").status_code == 200  # not patient data: no event
    bundle = wait_for(
        lambda: (
            _search(smart, agent=who, type="search-type")["total"] == 1
            and _search(smart, agent=who, type="search-type")
        )
    )
    assert bundle and bundle["total"] == 1
    event = bundle["entry"][0]["resource"]
    AuditEvent.model_validate(event)
    whats = {e["what"]["reference"] for e in event["entity"]}
    assert f"ImagingStudy/{STUDY_A}" in whats
    assert f"Patient/{PATIENT_A}" in whats
    assert _search(smart, agent=who)["total"] == 1


def test_an_aborted_transaction_leaves_no_audit_of_its_writes(smart: SmartServer) -> None:
    who = f"tx-{uuid.uuid4().hex[:8]}"
    pid, other = f"tx-audit-{uuid.uuid4().hex[:8]}", f"tx-other-{uuid.uuid4().hex[:8]}"
    fhir = {"Content-Type": "application/fhir+json"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "request": {"method": "PUT", "url": f"Patient/{pid}"},
                "resource": {"resourceType": "Patient", "id": pid},
            },
            {  # runs after the first write and fails: the whole transaction is rolled back
                "request": {"method": "PUT", "url": f"Patient/{other}", "ifMatch": 'W/"99"'},
                "resource": {"resourceType": "Patient", "id": other},
            },
        ],
    }
    with smart.client(smart.mint("system/*.cruds", role=None)) as setup:
        assert setup.put(
            f"/Patient/{other}", json={"resourceType": "Patient", "id": other}, headers=fhir
        ).is_success
    with smart.client(smart.mint("system/*.cruds", subject=who, role=None)) as c:
        assert c.post("", json=bundle, headers=fhir).status_code == 412
        assert c.get(f"/Patient/{pid}").status_code == 404
        # A later write of the same caller: once its event is there, an event of the aborted one would be too.
        assert (
            c.put(f"/Patient/{pid}", json={"resourceType": "Patient", "id": pid}, headers=fhir).status_code
            == 201
        )
    wait_for(lambda: _search(smart, agent=who, type="update")["total"] == 1)
    assert _search(smart, agent=who, entity=f"Patient/{pid}")["total"] == 1
