"""AuditEvents (https://hl7.org/fhir/R4/auditevent.html) for authorization decisions worth keeping (tokens
issued or refused, access denied) and for every read and write of patient data: who, what, when, from where.

They live in their own collection `audit_events` as R4 AuditEvent JSON (every shape the log builds is
checked against the fhir.resources R4B model by the tests), each in a version document of the FHIR
repository's shape (`fhir_server.storage.mongo`: `id`, `v`, `cur`, `del`, `ts`, `res`, and the search keys
`sp` of the registry's AuditEvent parameters), so the one
search engine finds them (`fhir_server.audit.search`). An event is written once and never changed:
version 1, current, never deleted. The request path only puts a small record on a queue;
a background thread builds and inserts the events in batches through the document store
(`fhir_server.storage.documents`, `insert_many(durable=False)`: acknowledged by the database, not waiting
for its journal flush): an audit write never delays a read. The price is that events of the last moments
before a crash of the database can be lost.

The collection's indexes (the search index among them) are in the schema table
(`fhir_server.storage.schema.STANDALONE_COLLECTIONS`); events stored before they were version documents
get their version fields and search keys from a start-up migration (`fhir_server.storage.migrations`).
`ts` is the recorded instant to the millisecond, the same instant as `recorded` and `meta.lastUpdated`, so
the `recorded` index orders events as `_sort=-date` does (`fhir_server.audit.search` pages on it).
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fhir_server.search.extract import ResourceKeys, split_resource_keys
from fhir_server.storage.documents import DESCENDING, DocumentCollection, Documents
from fhir_server.storage.mongo import format_instant
from fhir_server.storage.repository import VersionReader
from fhir_server.type_aliases import Document

log = logging.getLogger(__name__)

Category = Literal["rest", "login", "denied"]
Outcome = Literal["0", "4", "8"]
Action = Literal["C", "R", "U", "D", "E"]
COLLECTION = "audit_events"
RESOURCE_TYPE = "AuditEvent"
USER_SYSTEM = "urn:imaging-federation:user"
CLIENT_SYSTEM = "urn:imaging-federation:client"
_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_TYPES: dict[Category, dict[str, str]] = {
    "rest": {
        "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
        "code": "rest",
        "display": "RESTful Operation",
    },
    "login": {"system": _DCM, "code": "110114", "display": "User Authentication"},
    "denied": {"system": _DCM, "code": "110113", "display": "Security Alert"},
}
_ROLE_TYPE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
# Small enough that one insert never holds the database for long (500 events made read p99 355 ms, 100
# made it 140 ms under bench/load.py), large enough to write a busy second's events in a few inserts.
_BATCH = 100
_MAX_PENDING = 20_000
_LINGER_SECONDS = 0.5
_CANDIDATE_FIELDS = {"id": 1, "ts": 1, "sp": 1}


@dataclass(frozen=True)
class Who:
    subject: str
    client_id: str | None = None
    role: str | None = None  # None: a backend service acting as itself
    fhir_user: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    category: Category
    subtype: str  # a restful-interaction code (read, create, …), or "token" for the token endpoint
    action: Action
    outcome: Outcome
    who: Who
    entities: tuple[str, ...] = ()  # references, e.g. "ImagingStudy/1"
    patients: tuple[str, ...] = ()  # ids of the patients whose data it concerns
    description: str | None = None
    recorded: datetime = field(default_factory=lambda: datetime.now(UTC))


class AuditLog:
    """`store`: the database's document store (`DatabaseConnection.documents`).

    Records go to a buffer of at most `_MAX_PENDING` (a deque: appending takes no lock and wakes no
    thread, so recording costs a request almost nothing); the writer thread drains it every
    `_LINGER_SECONDS`, or at once when `_BATCH` records are waiting or someone flushes."""

    def __init__(self, store: Documents, *, background: bool = True) -> None:
        self._events: DocumentCollection = store.collection(COLLECTION)
        self._pending: collections.deque[AuditRecord] = collections.deque()
        self._recorded = itertools.count(1)  # next() is atomic under the GIL (counts without a lock)
        # flush(): the writer drains the buffer in cycles; a flush asks for a cycle that starts after it.
        self._progress = threading.Condition()
        self._flushes_asked = 0
        self._flushes_done = 0
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def record(self, record: AuditRecord) -> None:
        if self._thread is None:
            self._write([record])
            return
        if len(self._pending) >= _MAX_PENDING:
            self._write([record])  # the writer is far behind: slow this request rather than lose the event
            return
        self._pending.append(record)
        if next(self._recorded) % _BATCH == 0:
            self._wake.set()

    def flush(self) -> None:
        """Wait until every event recorded so far is stored (before answering an audit search)."""
        if self._thread is None:
            return
        with self._progress:
            self._flushes_asked += 1
            asked = self._flushes_asked
            self._wake.set()
            self._progress.wait_for(lambda: self._flushes_done >= asked or self._thread is None, timeout=30)

    def close(self) -> None:
        if self._thread is not None:
            self._closing = True
            self._wake.set()
            self._thread.join(timeout=10)
            self._thread = None

    def read(self, event_id: str) -> dict[str, Any] | None:
        """The event with this id (`GET [base]/AuditEvent/{id}`), or None."""
        doc = self._events.find_one({"_id": event_id}, {"res": 1})
        return None if doc is None else doc.get("res")

    def events_about(self, reference: str, *, limit: int) -> list[dict[str, Any]]:
        """The events naming `reference` among their entities, newest first, at most `limit`: one lookup
        on the `entity` index (a SMART Health Link's access log, `urn:shl:{id}`)."""
        found = self._events.find({"entities": reference}, {"res": 1}, sort=[("ts", DESCENDING)], limit=limit)
        return [doc["res"] for doc in found]

    def recorded_between(self, since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
        """Every event recorded at or after `since` and before `until` (either open), as the search engine's
        candidates (`id`, `ts`, search keys; not the event): one range read of the `recorded` index."""
        recorded: dict[str, datetime] = {}
        if since is not None:
            recorded["$gte"] = since
        if until is not None:
            recorded["$lt"] = until
        return list(self._events.find({"ts": recorded} if recorded else {}, _CANDIDATE_FIELDS))

    def count(self) -> int:
        """How many events are stored (reads the whole log: only when a search asks for a total)."""
        return self._events.count_documents({})

    @property
    def versions(self) -> AuditVersions:
        """The events as the search engine reads a type's versions (`fhir_server.search.engine`), through
        the document store (driver errors become storage errors)."""
        return AuditVersions(self._events)

    def _run(self) -> None:
        while True:
            # Linger so a busy server writes events in batches: one insert per request would compete with
            # the requests themselves for the database.
            self._wake.wait(timeout=_LINGER_SECONDS)
            self._wake.clear()
            closing = self._closing
            with self._progress:
                cycle = self._flushes_asked  # every record recorded before these flushes is in the buffer
            while self._pending:
                records = [self._pending.popleft() for _ in range(min(_BATCH, len(self._pending)))]
                try:
                    self._write(records)
                except Exception:
                    log.exception("could not store %d audit events", len(records))
            with self._progress:
                self._flushes_done = cycle
                self._progress.notify_all()
            if closing:
                return

    def _write(self, records: Iterable[AuditRecord]) -> None:
        self._events.insert_many([_document(r) for r in records], durable=False)


@dataclass(frozen=True)
class AuditVersions:
    """The audit collection as the search engine's `SearchBackend` (`fhir_server.storage.repository`), for
    AuditEvent only: the audit search refuses chains and includes, so the engine never asks for another
    type."""

    events: VersionReader

    def collection(self, resource_type: str) -> VersionReader:
        if resource_type != RESOURCE_TYPE:
            raise LookupError(f"the audit log holds AuditEvents only, not {resource_type}")
        return self.events


def _document(record: AuditRecord) -> Document:
    # Not validated against the model here: built from typed records, every shape is validated by
    # tests/fhir_server/audit/test_event_shapes.py, and validating each event cost as much as the read it
    # recorded.
    event = audit_event(record)
    who = record.who
    agents = {a for a in (who.subject, who.client_id, who.fhir_user) if a}
    return {
        "_id": event["id"],
        **_version_fields(event, record.recorded, search_keys(record, event)),
        # Read directly by the SMART Health Link access log (`entities`, indexed) and operators' queries.
        "agents": sorted(agents),
        "entities": sorted({*record.entities, *(f"Patient/{p}" for p in record.patients)}),
    }


def search_keys(record: AuditRecord, event: dict[str, Any]) -> ResourceKeys:
    """The event's search keys (`split_resource_keys(event)`), computed in two parts: those of the elements
    that only the record's kind and agent decide (type, subtype, action, outcome, agent, source: the same
    for every read of one client, so computed once per kind and kept) and those of the rest (id, dates,
    entities). Every parameter's values are the union over the two; tests/fhir_server/audit checks the
    result equals the whole extraction for every shape. This was most of what an audited read cost."""
    fixed = _fixed_keys(record.category, record.subtype, record.action, record.outcome, record.who)
    varying = split_resource_keys({k: v for k, v in event.items() if k not in _FIXED_ELEMENTS})
    return ResourceKeys(
        sorted({*fixed.indexed, *varying.indexed}),
        sorted({*fixed.unindexed, *varying.unindexed}),
        sorted({*fixed.exact, *varying.exact}),
    )


_FIXED_ELEMENTS = frozenset({"type", "subtype", "action", "outcome", "agent", "source"})


@functools.lru_cache(maxsize=4096)
def _fixed_keys(category: Category, subtype: str, action: str, outcome: Outcome, who: Who) -> ResourceKeys:
    record = AuditRecord(category, subtype, action, outcome, who)  # type: ignore[arg-type]
    event = audit_event(record)
    return split_resource_keys(
        {k: v for k, v in event.items() if k in _FIXED_ELEMENTS or k == "resourceType"}
    )


def _version_fields(event: dict[str, Any], recorded: datetime, keys: ResourceKeys) -> Document:
    """The fields of a version document of `fhir_server.storage.mongo`: the first and only version, live.
    References in events are relative (`Type/id`), so no base URL is needed to index them. `ts` is the
    recorded instant to the millisecond, as `recorded` states it (the database keeps milliseconds)."""
    return {
        "id": event["id"],
        "v": 1,
        "cur": True,
        "del": False,
        "m": "POST",
        "ts": recorded.replace(microsecond=recorded.microsecond // 1000 * 1000),
        "res": event,
        "sp": {"k": keys.indexed, "t": keys.unindexed, "x": keys.exact},
    }


def audit_event(record: AuditRecord) -> dict[str, Any]:
    subtype_system = "http://hl7.org/fhir/restful-interaction" if record.subtype != "token" else _DCM
    subtype: dict[str, str] = {"system": subtype_system, "code": record.subtype}
    if record.subtype == "token":
        subtype = {"system": _DCM, "code": "110122", "display": "Login"}
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": format_instant(record.recorded)},
        "type": _TYPES[record.category],
        "subtype": [subtype],
        "action": record.action,
        "recorded": format_instant(record.recorded),
        "outcome": record.outcome,
        "agent": _agents(record.who),
        "source": {
            "observer": {"display": "imaging-federation-fhir"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
    }
    if record.description:
        event["outcomeDesc"] = record.description[:1000]
    entities = [_entity(ref, patient=False) for ref in dict.fromkeys(record.entities)]
    entities += [_entity(f"Patient/{p}", patient=True) for p in dict.fromkeys(record.patients)]
    if entities:
        event["entity"] = entities
    return event


def _agents(who: Who) -> list[dict[str, Any]]:
    network = {"network": {"address": who.address, "type": "2"}} if who.address else {}
    agents: list[dict[str, Any]] = []
    if who.role is not None:
        user: dict[str, Any] = {
            "identifier": {"system": USER_SYSTEM, "value": who.subject},
            "display": who.subject,
        }
        if who.fhir_user:
            user["reference"] = who.fhir_user
        agents.append(
            {
                "type": {"coding": [{"system": _ROLE_TYPE, "code": "humanuser", "display": "human user"}]},
                "who": user,
                "altId": who.subject,
                "requestor": True,
                **network,
            }
        )
    if who.client_id or who.role is None:
        client = who.client_id or who.subject
        application: dict[str, Any] = {
            "type": {"coding": [{"system": _DCM, "code": "110150", "display": "Application"}]},
            "who": {"identifier": {"system": CLIENT_SYSTEM, "value": client}, "display": client},
        }
        if who.role is None:
            # A service acting as itself: the token's subject (who it stands for, `altid` in a search)
            # may differ from the client that holds it.
            application["altId"] = who.subject
        agents.append(
            {**application, "requestor": who.role is None, **({} if who.role is not None else network)}
        )
    return agents


def _entity(reference: str, *, patient: bool) -> dict[str, Any]:
    entity_type = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
    if patient:
        return {
            "what": {"reference": reference},
            "type": {"system": entity_type, "code": "1", "display": "Person"},
            "role": {
                "system": "http://terminology.hl7.org/CodeSystem/object-role",
                "code": "1",
                "display": "Patient",
            },
        }
    return {
        "what": {"reference": reference},
        "type": {"system": entity_type, "code": "2", "display": "System Object"},
    }
