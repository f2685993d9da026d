"""AuditEvents (fhir_server.auth.audit): token issued or refused, access denied, reads and writes of
patient data — stored as R4 AuditEvent JSON and searchable by admins at [base]/AuditEvent with FHIR search
(fhir_server.auth.audit_search): the token's subject is the agent's `altid`, users and clients are agents by
identifier (`agent:identifier=`), the interaction is the `subtype`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhir.resources.R4B.auditevent import AuditEvent

from fhir_server.auth.audit import COLLECTION, AuditLog, AuditRecord, Who, audit_event
from tests.fhir_server.auth.smart_support import PATIENT_A, PATIENT_B, STUDY_A, SmartServer, wait_for


def _search(smart: SmartServer, **params: str) -> dict:  # type: ignore[type-arg]
    with smart.client(smart.mint("admin")) as admin:
        response = admin.get("/AuditEvent", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _of(smart: SmartServer, agent: str, **params: str) -> dict[str, Any]:
    """The events of the tokens with this subject (the agent's `altId`)."""
    return _search(smart, altid=agent, **params)


def test_read_of_patient_data_is_audited(smart: SmartServer) -> None:
    who = f"auditor-{uuid.uuid4().hex[:8]}"
    with smart.client(smart.mint("user/*.rs", subject=who, role="clinician")) as c:
        assert c.get(f"/ImagingStudy/{STUDY_A}").status_code == 200
        assert c.get("/Organization/legacy-hos-001").status_code == 200
    bundle = _of(smart, who)
    assert bundle["total"] == 1  # the hospital is not patient data
    event = bundle["entry"][0]["resource"]
    AuditEvent.model_validate(event)
    assert (
        event["type"]["code"] == "rest" and event["subtype"][0]["code"] == "read" and event["outcome"] == "0"
    )
    whats = {e["what"]["reference"] for e in event["entity"]}
    assert whats == {f"ImagingStudy/{STUDY_A}", f"Patient/{PATIENT_A}"}
    assert any(a["who"].get("identifier", {}).get("value") == who for a in event["agent"])
    assert _of(smart, who, entity=f"ImagingStudy/{STUDY_A}", subtype="read")["total"] == 1
    assert _of(smart, who, patient=PATIENT_A)["total"] == 1
    assert _of(smart, who, subtype="create")["total"] == 0
    assert _search(smart, **{"agent:identifier": who})["total"] == 1  # the user, as the agent's identifier


def test_denied_access_is_audited(smart: SmartServer) -> None:
    who = f"intruder-{uuid.uuid4().hex[:8]}"
    with smart.client(smart.mint("patient/*.rs", patient=PATIENT_A, subject=who)) as c:
        # Answered as absent (no existence oracle), audited as the denial it is.
        assert c.get(f"/Patient/{PATIENT_B}").status_code == 404
    bundle = _of(smart, who, type="110113")
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
    codes = sorted(e["resource"]["subtype"][0]["code"] for e in _of(smart, who)["entry"])
    assert codes == ["delete", "update"]


def test_token_issuance_is_audited(smart: SmartServer) -> None:
    from tests.fhir_server.auth.test_backend_services import fetch

    fetch(smart, "backend-rs384", smart.rs384_key, "RS384")
    bundle = _of(smart, "backend-rs384", type="110114", outcome="0")
    assert bundle["total"] >= 1
    assert bundle["entry"][0]["resource"]["subtype"][0]["code"] == "110122"


def test_date_search_and_paging(smart: SmartServer) -> None:
    who = f"pager-{uuid.uuid4().hex[:8]}"
    with smart.client(smart.mint("user/*.rs", subject=who, role="clinician")) as c:
        for _ in range(3):
            c.get(f"/Patient/{PATIENT_A}")
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _of(smart, who, date=f"ge{since}")["total"] == 3
    assert _of(smart, who, date="lt2000-01-01")["total"] == 0
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert wait_for(lambda: _of(smart, who, date=today)["total"] == 3)
    page = _of(smart, who, _count="2")
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
            _of(smart, who, subtype="search-type")["total"] == 1 and _of(smart, who, subtype="search-type")
        )
    )
    assert bundle and bundle["total"] == 1
    event = bundle["entry"][0]["resource"]
    AuditEvent.model_validate(event)
    whats = {e["what"]["reference"] for e in event["entity"]}
    assert f"ImagingStudy/{STUDY_A}" in whats
    assert f"Patient/{PATIENT_A}" in whats
    assert _of(smart, who)["total"] == 1


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
    wait_for(lambda: _of(smart, who, subtype="update")["total"] == 1)
    assert _of(smart, who, entity=f"Patient/{pid}")["total"] == 1


def test_search_follows_fhir_search_rules(smart: SmartServer) -> None:
    who = f"rules-{uuid.uuid4().hex[:8]}"
    with smart.client(smart.mint("user/*.rs", subject=who, role="clinician")) as c:
        for _ in range(3):
            assert c.get(f"/Patient/{PATIENT_A}").status_code == 200
    wait_for(lambda: _of(smart, who)["total"] == 3)
    # Newest first; keyset pages through the `next` links, as every FHIR search pages.
    first = _of(smart, who, _count="2")
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    with smart.client(smart.mint("admin")) as admin:
        second = admin.get("/AuditEvent", params=parse_qsl(urlsplit(following).query)).json()
    events = [e["resource"] for e in first["entry"] + second["entry"]]
    assert len({e["id"] for e in events}) == 3
    assert [e["recorded"] for e in events] == sorted((e["recorded"] for e in events), reverse=True)
    assert not any(link["relation"] == "next" for link in second["link"])
    assert _of(smart, who, _sort="date")["entry"][0]["resource"]["id"] == events[-1]["id"]
    assert _of(smart, who, _summary="count")["total"] == 3
    # Modifiers and prefixes of the parameter types.
    assert _of(smart, who, **{"subtype:not": "read"})["total"] == 0
    assert _of(smart, who, action="R", outcome="0", type="rest")["total"] == 3
    assert _of(smart, who, date="sa2000-01-01")["total"] == 3
    with smart.client(smart.mint("admin")) as admin:
        for params in (
            {"date": "xx2024-01-01"},  # unknown prefix
            {"date": "yesterday"},
            {"agent:exact": who},  # not a modifier of reference parameters
            {"_offset": "2"},  # paging is by `_page` links
            {"entity.name": "x"},  # no chains over the audit log
            {"_include": "AuditEvent:entity"},
            {"_elements": "id"},
        ):
            response = admin.get("/AuditEvent", params=params)
            assert response.status_code == 400, (params, response.text)
            assert response.json()["resourceType"] == "OperationOutcome"


def test_audit_events_are_not_reachable_from_other_searches(smart: SmartServer) -> None:
    with smart.client(smart.mint("system/*.rs", role=None)) as c:
        strict = {"Prefer": "handling=strict"}
        has = c.get("/Patient", params={"_has:AuditEvent:patient:outcome": "0"}, headers=strict)
        assert has.status_code == 400
        assert c.get("/Patient", params={"_revinclude": "AuditEvent:patient"}).status_code == 400


def test_events_stored_before_search_keys_are_found(smart: SmartServer) -> None:
    # An event as the audit log stored it before AuditEvent search used the search engine: no version
    # fields, no search keys. The writer adds them when it starts (prepare_search), once.
    who = f"old-{uuid.uuid4().hex[:8]}"
    record = AuditRecord(
        "rest", "read", "R", "0", Who(who, client_id="app", role="clinician"), ("Patient/x",)
    )
    event = audit_event(record)
    events = smart.connection.db.get_collection(COLLECTION)
    events.insert_one({"_id": event["id"], "ts": record.recorded, "agents": [who], "res": event})
    assert _of(smart, who)["total"] == 0
    AuditLog(smart.connection.db, background=False).prepare_search()
    found = _of(smart, who, entity="Patient/x")
    assert found["total"] == 1 and found["entry"][0]["resource"] == event
