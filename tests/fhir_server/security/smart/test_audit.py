"""AuditEvents (fhir_server.audit.log): token issued or refused, access denied, reads and writes of
patient data — stored as R4 AuditEvent JSON and searchable by admins at [base]/AuditEvent with FHIR search
(fhir_server.audit.search): the token's subject is the agent's `altid`, users and clients are agents by
identifier (`agent:identifier=`), the interaction is the `subtype`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fhir.resources.R4B.auditevent import AuditEvent

from fhir_server.audit.log import COLLECTION, AuditLog, AuditRecord, Who, audit_event
from fhir_server.audit.search import run_search
from fhir_server.resource_types import MODELS
from fhir_server.search import paging
from fhir_server.search.conditions import Candidate
from fhir_server.search.engine import SearchLimits
from fhir_server.search.index import SearchIndexer, search_indexes
from fhir_server.search.migration import key_format
from fhir_server.search.request import SearchRequest, parse_search
from fhir_server.search.sorting import position
from fhir_server.storage.documents import Documents
from fhir_server.storage.schema import ensure_schema
from tests.fhir_server.security.smart.smart_support import (
    PATIENT_A,
    PATIENT_B,
    STUDY_A,
    SmartServer,
    wait_for,
)


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


def test_each_read_is_audited_once_whether_answered_from_memory_or_not(smart: SmartServer) -> None:
    """Reads are first tried on the event loop from memory and run again in a worker thread when they need
    the database: neither path may record a read twice or not at all."""
    who = f"reader-{uuid.uuid4().hex[:8]}"
    with smart.client(smart.mint("user/*.rs", subject=who, role="clinician")) as c:
        for _ in range(3):
            assert c.get(f"/ImagingStudy/{STUDY_A}").status_code == 200
    assert _of(smart, who)["total"] == 3


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
    from tests.fhir_server.security.smart.test_backend_services import fetch

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
    audit = AuditLog(smart.connection.documents, background=False)
    assert (audit.read(event_id) or {}).get("id") == event_id and audit.read("nope") is None


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
    # fields, no search keys. A start-up migration of the schema adds them, once (a marker records it).
    who = f"old-{uuid.uuid4().hex[:8]}"
    record = AuditRecord(
        "rest", "read", "R", "0", Who(who, client_id="app", role="clinician"), ("Patient/x",)
    )
    event = audit_event(record)
    events = smart.connection.db.get_collection(COLLECTION)
    events.insert_one({"_id": event["id"], "ts": record.recorded, "agents": [who], "res": event})
    assert _of(smart, who)["total"] == 0
    # As on the first start of a server with this code: the marker is not there yet.
    smart.connection.db.get_collection("search_meta").delete_one({"_id": f"version-fields:{COLLECTION}"})
    ensure_schema(smart.connection, list(MODELS), search_indexes, key_format(SearchIndexer()))
    found = _of(smart, who, entity="Patient/x")
    assert found["total"] == 1 and found["entry"][0]["resource"] == event


# -- the unfiltered, newest-first trail ---------------------------------------------------------------------

_LONG_AGO = datetime(2003, 3, 3, 3, 3, 3, tzinfo=UTC)


class _Recording:
    """A document store whose collections remember every filter they are asked."""

    def __init__(self, documents: Documents) -> None:
        self.documents = documents
        self.queries: list[dict[str, Any]] = []

    def collection(self, name: str) -> Any:
        inner = self.documents.collection(name)
        recording = self

        class _Collection:
            def __getattr__(self, attribute: str) -> Any:
                return getattr(inner, attribute)

            def find(self, filter_: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> Any:
                recording.queries.append(filter_ or {})
                return inner.find(filter_, *args, **kwargs)

        return _Collection()


def _request(query: str) -> SearchRequest:
    pairs = [*parse_qsl(query), ("_sort", "-date")] if "_sort" not in query else parse_qsl(query)
    return parse_search("AuditEvent", pairs, strict=True, default_count=20, max_count=100)


def _page(audit: AuditLog, query: str, *, general: bool = False) -> tuple[list[str], Any]:
    """Ids of one page and the page; `general`: through the engine's general path (criteria that match
    every event make it skip the newest-first read)."""
    if general:
        query += "&_lastUpdated=gt1900-01-01"
    result = run_search(audit, _request(query), is_admin=True, limits=SearchLimits(), own_bases=())
    return [v.id for v in result.versions], result.page


@pytest.fixture(scope="module")
def long_ago(smart: SmartServer) -> list[str]:
    """Events recorded years ago, several in the same millisecond (ties are ordered by id)."""
    audit = AuditLog(smart.connection.documents, background=False)
    who = Who(f"long-ago-{uuid.uuid4().hex[:8]}", client_id="app", role="clinician")
    moments = [_LONG_AGO + timedelta(milliseconds=n // 3) for n in range(9)]
    moments += [_LONG_AGO - timedelta(days=400 * n) for n in range(1, 4)]
    ids = []
    for moment in moments:
        before = audit.recorded_between(moment, moment + timedelta(milliseconds=1))
        audit.record(AuditRecord("rest", "read", "R", "0", who, ("Patient/long-ago",), recorded=moment))
        after = audit.recorded_between(moment, moment + timedelta(milliseconds=1))
        ids += list({d["id"] for d in after} - {d["id"] for d in before})
    return ids


def _pages(audit: AuditLog, count: int, first_page: str, *, general: bool, limit: int) -> list[list[str]]:
    pages = []
    query = f"_count={count}{first_page}"
    for _ in range(limit):
        ids, page = _page(audit, query, general=general)
        pages.append(ids)
        if page.next is None:
            break
        query = f"_count={count}&_page={paging.encode(page.next)}"
    return pages


def test_newest_first_pages_are_those_of_the_general_path(smart: SmartServer, long_ago: list[str]) -> None:
    _search(smart, _count="1")  # the server's writer has stored what it had queued
    audit = AuditLog(smart.connection.documents, background=False)
    assert _page(audit, "_count=5")[0] == _page(audit, "_count=5", general=True)[0]
    # From a position among the old events (ties in one millisecond): the following pages, and back.
    doc = smart.connection.db.get_collection(COLLECTION).find_one({"_id": long_ago[4]})
    assert doc is not None
    start = paging.PageToken("after", position(Candidate.from_doc(doc), _request("").sort), "-date")
    from_there = f"&_page={paging.encode(start)}"
    fast = _pages(audit, 2, from_there, general=False, limit=10)
    assert fast == _pages(audit, 2, from_there, general=True, limit=10)
    older = [i for ids in fast for i in ids]
    assert set(older) <= set(long_ago) and 6 <= len(older) <= 8  # the rest of its moment and older ones
    first, page1 = _page(audit, f"_count=2{from_there}")
    assert page1.next is not None
    _, page2 = _page(audit, f"_count=2&_page={paging.encode(page1.next)}")
    assert page2.previous is not None
    assert _page(audit, f"_count=2&_page={paging.encode(page2.previous)}")[0] == first


def test_the_newest_first_page_reads_a_range_of_the_recorded_index(
    smart: SmartServer, long_ago: list[str]
) -> None:
    """`GET [base]/AuditEvent` (admins' default: newest first) reads time slices of the `recorded` index
    back from now, not every event: no query scans the collection, and the keys examined leave the old
    events unread."""
    recording = _Recording(smart.connection.documents)
    audit = AuditLog(recording, background=False)  # type: ignore[arg-type]
    result = run_search(audit, _request("_count=5"), is_admin=True, limits=SearchLimits(), own_bases=())
    assert len(result.versions) == 5 and result.total is None
    events = smart.connection.db.get_collection(COLLECTION)
    stored = events.count_documents({})
    examined = 0
    assert recording.queries, "the search asked the database nothing"
    for filter_ in recording.queries:
        explained = events.find(filter_).explain()
        stages = list(_stages(explained["queryPlanner"]["winningPlan"]))
        assert "COLLSCAN" not in stages and "IXSCAN" in stages, (filter_, explained["queryPlanner"])
        if "_id" not in filter_:  # not the page's events read by id
            examined += explained["executionStats"]["totalKeysExamined"]
    assert 0 < examined <= stored - len(long_ago), (examined, stored)
    # Asked for, the total is counted.
    counted = run_search(
        audit,
        _request("_count=5&_total=accurate"),
        is_admin=True,
        limits=SearchLimits(),
        own_bases=(),
        total_asked=True,
    )
    assert counted.total == stored


def _stages(plan: dict[str, Any]) -> Iterator[str]:
    yield plan["stage"]
    for key in ("inputStage", "queryPlan"):
        if isinstance(plan.get(key), dict):
            yield from _stages(plan[key])
    for child in plan.get("inputStages", []):
        yield from _stages(child)
