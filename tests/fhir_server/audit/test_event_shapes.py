"""Every shape of AuditEvent the audit log builds is valid R4 (the fhir.resources R4B model). The log builds
events from typed records and does not validate each one at run time (that cost as much as the read it
recorded), so this test is what keeps them valid: it builds every combination the records allow."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import get_args

import pytest
from fhir.resources.R4B.auditevent import AuditEvent

from fhir_server.audit.log import AuditRecord, Category, Who, audit_event, search_keys
from fhir_server.search.extract import split_resource_keys

WHOS = [
    Who("alice", client_id="dashboard", role="clinician", fhir_user="Practitioner/1", address="10.0.0.1"),
    Who(subject="alice", role="admin"),  # a user without a client (the dashboard's own session)
    Who(subject="svc", client_id="backend", address="127.0.0.1"),  # a service acting as itself
    Who(subject="svc"),
]


@pytest.mark.parametrize(
    ("category", "subtype", "who", "with_data"),
    list(itertools.product(get_args(Category), ["read", "search-type", "token"], WHOS, [False, True])),
)
def test_every_event_shape_is_valid_r4(category: Category, subtype: str, who: Who, with_data: bool) -> None:
    record = AuditRecord(
        category=category,
        subtype=subtype,
        action="R",
        outcome="0" if category == "rest" else "4",
        who=who,
        entities=("ImagingStudy/1", "urn:shl:abc") if with_data else (),
        patients=("p1", "p2") if with_data else (),
        description="x" * 2000 if with_data else None,
        recorded=datetime(2026, 12, 5, 3, 4, 5, 678901, tzinfo=UTC),
    )
    event = audit_event(record)
    AuditEvent.model_validate(event)
    assert event["recorded"] == event["meta"]["lastUpdated"]
    # The keys computed in two parts (one of them kept per kind of event) are those of the whole event.
    assert search_keys(record, event) == split_resource_keys(event)
    again = audit_event(record)
    assert search_keys(record, again) == split_resource_keys(again)  # the kept part, reused


def test_event_ids_are_unique() -> None:
    record = AuditRecord(category="rest", subtype="read", action="R", outcome="0", who=WHOS[2])
    assert len({audit_event(record)["id"] for _ in range(1000)}) == 1000
