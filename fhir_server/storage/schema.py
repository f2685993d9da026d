"""Every collection of the database and its indexes, in one table, created by one `ensure_schema`.

Features name their collection (`Documents.collection(name)`); this table is where the collection's indexes
are declared, and `ensure_schema` (called once at start-up by the app and by the CLI commands that open the
database) creates them. Creating an index that exists with the same definition is a no-op, so running it on
every start is safe. Resource collections (one per FHIR type) get the version indexes below plus the search
index the search package declares (`fhir_server.search.index.search_indexes`); so do the collections of
version documents of a standalone type written outside the repository (`STANDALONE_COLLECTIONS`: the audit
log), with indexes of their own. Indexes the table no longer declares are listed in `RETIRED_INDEXES` and
dropped where they still exist; stored data is brought up to date by `fhir_server.storage.migrations`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import IndexModel

from fhir_server.storage.connection import DatabaseConnection
from fhir_server.storage.migrations import (
    SearchKeyFormat,
    add_version_fields,
    drop_indexes,
    reindex_search_keys,
)


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    # TTL: documents are deleted this many seconds after the time in the (single) key field.
    expire_after_seconds: int | None = None
    # Partial: only documents matching this filter are indexed.
    partial: Mapping[str, Any] | None = field(default=None, hash=False)

    def model(self) -> IndexModel:
        options: dict[str, Any] = {"name": self.name}
        if self.unique:
            options["unique"] = True
        if self.expire_after_seconds is not None:
            options["expireAfterSeconds"] = self.expire_after_seconds
        if self.partial is not None:
            options["partialFilterExpression"] = dict(self.partial)
        return IndexModel(list(self.keys), **options)


# Short-lived records (authorization codes, launches, …): removed by the database once `expires` passed.
# TTL deletion runs only now and then, so readers check `expires` too.
_EXPIRY = Index("ttl", (("expires", 1),), expire_after_seconds=0)

# Feature state: collection name -> indexes (none: only `_id` lookups).
FEATURE_COLLECTIONS: dict[str, tuple[Index, ...]] = {
    # SMART authorization server (fhir_server.auth)
    "auth_assertions": (_EXPIRY,),
    "auth_clients": (),
    "auth_codes": (_EXPIRY, Index("nonce", (("client_id", 1), ("nonce", 1)))),
    "auth_keys": (),
    "auth_launches": (_EXPIRY,),
    "auth_meta": (),
    "auth_pending": (_EXPIRY,),
    "auth_refresh_tokens": (_EXPIRY, Index("family", (("family", 1),))),
    "auth_revoked": (_EXPIRY,),
    "auth_users": (),
    # DICOMweb sync (fhir_server.dicomweb)
    "hospital_connections": (
        Index("identifier", (("identifier", 1),), unique=True),
        Index("endpoint_ids", (("endpoint_ids", 1),)),
    ),
    "sync_state": (),
    "synced_studies": (
        Index("hospital_uid", (("hospital", 1), ("study_uid", 1))),
        Index("hospital_deleted", (("hospital", 1), ("deleted", 1))),
        Index("study_uid", (("study_uid", 1),)),  # the federated DICOMweb root routes by Study UID
    ),
    # Possible duplicate Patients (fhir_server.patients)
    "patient_match_candidates": (Index("status_detected", (("status", 1), ("detected_at", -1))),),
    # SMART Health Links (fhir_server.shl)
    "shl_links": (
        Index("manifest", (("manifest", 1),), unique=True),
        Index("patient", (("patient", 1), ("created", -1))),
    ),
    "shl_locations": (_EXPIRY,),
    # Search (fhir_server.search): conditional-write criteria locks, the stored index format
    "search_locks": (Index("lock_expiry", (("expires", 1),), expire_after_seconds=0),),
    "search_meta": (),
    # FHIR subscriptions (fhir_server.subscriptions): the write journal (fhir_server.storage.write_journal),
    # subscriptions, their numbered events, websocket binding tokens
    "resource_writes": (
        Index("pending", (("done", 1), ("until", 1))),
        Index("done_expiry", (("done_at", 1),), expire_after_seconds=7 * 24 * 3600),
    ),
    "subscriptions": (
        Index("topic_status", (("topic", 1), ("status", 1))),
        Index("owner", (("owner_key", 1),)),
    ),
    "subscription_events": (
        Index("subscription_number", (("sub", 1), ("n", 1)), unique=True),
        Index("subscription_write", (("sub", 1), ("write", 1)), unique=True),
    ),
    "subscription_ws_tokens": (_EXPIRY,),
    # The version cache's change feeds (fhir_server.storage.change_feed): one document per server process
    "version_cache_feeds": (),
}


@dataclass(frozen=True)
class StandaloneCollection:
    """Version documents (shape in fhir_server.storage.mongo) of one standalone type, written outside the
    repository and searched through the search engine: the type's search index plus `indexes`."""

    resource_type: str
    indexes: tuple[Index, ...]


STANDALONE_COLLECTIONS: dict[str, StandaloneCollection] = {
    # The audit log (fhir_server.audit.log): append-only AuditEvents. `recorded` (the event's time) serves
    # the unfiltered newest-first pages in time slices (fhir_server.audit.search); `entity` a link's access
    # log (fhir_server.shl.access_log); `agent` operators' queries.
    "audit_events": StandaloneCollection(
        "AuditEvent",
        (
            Index("recorded", (("ts", -1),)),
            Index("agent", (("agents", 1), ("ts", -1))),
            Index("entity", (("entities", 1), ("ts", -1))),
        ),
    ),
}

# Indexes the table declared once, on fields no longer written or read: dropped where they still exist.
RETIRED_INDEXES: dict[str, tuple[str, ...]] = {
    "audit_events": ("type",),  # on `types`, read by the audit search before it used the search engine
}

# Every resource collection (document shape in fhir_server.storage.mongo): a resource's versions newest
# first, and history across resources.
RESOURCE_INDEXES: tuple[Index, ...] = (
    Index("id_version", (("id", 1), ("v", -1))),
    Index("history", (("ts", -1), ("_id", -1))),
)

SearchIndexes = Callable[[str], Sequence[Index]]


def ensure_schema(
    connection: DatabaseConnection,
    resource_types: Sequence[str],
    search_indexes: SearchIndexes,
    key_format: SearchKeyFormat | None,
) -> int:
    """Create every index of the table and drop retired ones, then bring stored data up to `key_format`
    (`fhir_server.storage.migrations`: version fields of standalone documents stored before they had them,
    search keys); returns how many resources that re-indexed. `key_format` None: no migration (commands that
    only manage accounts and keys; the server migrates when it starts)."""
    db = connection.db
    for name, indexes in FEATURE_COLLECTIONS.items():
        if indexes:
            db.get_collection(name).create_indexes([index.model() for index in indexes])
    for resource_type in resource_types:
        indexes = (*RESOURCE_INDEXES, *search_indexes(resource_type))
        db.get_collection(resource_type).create_indexes([index.model() for index in indexes])
    for name, standalone in STANDALONE_COLLECTIONS.items():
        indexes = (*standalone.indexes, *search_indexes(standalone.resource_type))
        db.get_collection(name).create_indexes([index.model() for index in indexes])
    drop_indexes(connection, RETIRED_INDEXES)
    if key_format is None:
        return 0
    standalone_types = {name: c.resource_type for name, c in STANDALONE_COLLECTIONS.items()}
    add_version_fields(connection, standalone_types, key_format)
    return reindex_search_keys(connection, resource_types, key_format, standalone=standalone_types)


def collection_names(resource_types: Sequence[str]) -> set[str]:
    """Every collection the schema declares."""
    return {*FEATURE_COLLECTIONS, *STANDALONE_COLLECTIONS, *resource_types}
