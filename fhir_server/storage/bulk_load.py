"""Bulk loads with client-chosen ids (the legacy import, the demo data): the FHIR store's documents written
in batches, bypassing the per-resource write path but producing the same version documents.

New resources become version 1, changed ones a new version, unchanged ones (same content hash) are not
written, so re-running a load creates nothing. Kept apart from `MongoRepository` (the FHIR store that
interactions use): only loaders need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pymongo.errors import BulkWriteError

from fhir_server.storage.connection import DatabaseConnection
from fhir_server.storage.mongo import MongoRepository, as_utc, content_hash, now
from fhir_server.storage.repository import IndexValues, ResourceVersion
from fhir_server.storage.write_journal import COLLECTION as JOURNAL
from fhir_server.storage.write_journal import JOURNALED_TYPES, journal_entry
from fhir_server.type_aliases import Document, JsonObject

_DUPLICATE_KEY = 11000


class BulkLoad(Protocol):
    """What a loader needs: the stored versions of its ids, batches prepared and written, single reads."""

    def current_versions(self, resource_type: str, id_prefix: str) -> dict[str, CurrentVersion]: ...

    def prepare_import(
        self, resources: Sequence[JsonObject], known: dict[str, CurrentVersion]
    ) -> PreparedImport: ...

    def write_import(self, prepared: PreparedImport) -> None: ...

    def read(self, resource_type: str, resource_id: str) -> ResourceVersion | None: ...


class BulkLoader:
    """`BulkLoad` over the FHIR store of a connection (same documents as `MongoRepository` writes; the
    search values come from `index_values`)."""

    def __init__(
        self, connection: DatabaseConnection, resource_types: Sequence[str], index_values: IndexValues
    ) -> None:
        self._repository = MongoRepository(connection, resource_types, index_values)
        self._connection = connection

    def read(self, resource_type: str, resource_id: str) -> ResourceVersion | None:
        return self._repository.read(resource_type, resource_id)

    def current_versions(self, resource_type: str, id_prefix: str) -> dict[str, CurrentVersion]:
        """Latest version of every resource whose id starts with `id_prefix` (an index range scan).

        Bulk imports load this once per type instead of asking per batch: the embedded database answers
        `$in` and `$or` with a collection scan, so per-batch lookups would make an import quadratic.
        """
        # Every version, not `cur: true` ones: SecantusDB plans a second condition as a collection scan (of
        # every resource of the type, imported or not), while this is a range of the id_version index.
        query = {"id": {"$gte": id_prefix, "$lt": id_prefix + "\uffff"}}
        projection = {"_id": 1, "id": 1, "v": 1, "del": 1, "ts": 1, "h": 1}
        latest: dict[str, CurrentVersion] = {}
        for d in self._repository.collection(resource_type).find(query, projection):
            known = latest.get(d["id"])
            if known is None or known.version < d["v"]:
                latest[d["id"]] = CurrentVersion(d["_id"], d["v"], d["del"], d["ts"], d.get("h"))
        return latest

    def import_batch(self, resources: Sequence[JsonObject], known: dict[str, CurrentVersion]) -> ImportCounts:
        """Write resources with client-chosen ids in bulk: new ones as version 1, changed ones as a new
        version, unchanged ones (same content hash) not at all, so re-running an import creates nothing.

        Resources of one type per call; `known` is `current_versions()` of that type and is kept up to date.
        Same as `write_import(prepare_import(...))`.
        """
        prepared = self.prepare_import(resources, known)
        self.write_import(prepared)
        return prepared.counts

    def prepare_import(
        self, resources: Sequence[JsonObject], known: dict[str, CurrentVersion]
    ) -> PreparedImport:
        """The version documents of an `import_batch`, without writing them (CPU only, so that a bulk
        import can prepare the next batch while the database writes this one). Updates `known` as if
        written: batches must then be written in the order they were prepared."""
        counts = ImportCounts()
        if not resources:
            return PreparedImport("", [], [], counts)
        resource_type = resources[0]["resourceType"]
        new_docs: list[Document] = []
        retired: list[str] = []
        moment = now()
        for resource in resources:
            latest = known.get(resource["id"])
            if latest is not None and not latest.deleted and latest.content_hash == content_hash(resource):
                counts.unchanged += 1
                continue
            version = 1 if latest is None else latest.version + 1
            when = moment
            if latest is not None:
                when = max(moment, as_utc(latest.last_updated) + timedelta(milliseconds=1))
            doc = self._repository._version_doc(resource_type, resource["id"], version, when, resource, "PUT")
            new_docs.append(doc)
            known[resource["id"]] = CurrentVersion(doc["_id"], version, False, when, doc["h"])
            if latest is None:
                counts.created += 1
            else:
                counts.updated += 1
                retired.append(latest.key)
        return PreparedImport(resource_type, new_docs, retired, counts)

    def write_import(self, prepared: PreparedImport) -> None:
        """Journaled writes of a prepared batch: one insert_many, plus one update_many retiring the previous
        versions of changed resources, both in one transaction where supported."""
        if not prepared.docs:
            return
        collection = self._repository.collection(prepared.resource_type)
        if prepared.resource_type in JOURNALED_TYPES and self._connection.journal_gate.wanted():
            # Journaled before they are written (fhir_server.storage.write_journal); entries of versions
            # a crash kept from being written are dropped by their reader.
            entries = [journal_entry(prepared.resource_type, d, d["v"] - 1 or None) for d in prepared.docs]
            try:
                self._connection.db.get_collection(JOURNAL).insert_many(entries, ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != _DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                    raise
        if not prepared.retired:
            # Only new resources (a first import): no transaction, which would buy nothing here. Each
            # stored document is whole and journaled once acknowledged (with its index entries); a crash
            # mid-batch leaves some of them, which the next run finds by content hash and skips. Measured
            # on the embedded database: the same work per document either way (about 2,260 Python calls
            # per ImagingStudy), minus the transaction's two extra round trips per batch.
            collection.insert_many(prepared.docs, ordered=False)
            return
        with self._repository._transaction() as session:
            collection.insert_many(prepared.docs, ordered=False, session=session)
            if prepared.retired:
                collection.update_many(
                    {"_id": {"$in": prepared.retired}},
                    {"$set": {"cur": False}, "$unset": {"sp": ""}},
                    session=session,
                )


@dataclass
class ImportCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: ImportCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged

    @property
    def total(self) -> int:
        """Resources counted: every resource of a batch is exactly one of created, updated or unchanged."""
        return self.created + self.updated + self.unchanged


@dataclass
class PreparedImport:
    """Version documents of one import batch (one resource type), ready for `write_import`."""

    resource_type: str
    docs: list[Document]
    retired: list[str]  # `_id`s of the versions the new documents supersede
    counts: ImportCounts


@dataclass(frozen=True)
class CurrentVersion:
    key: str
    version: int
    deleted: bool
    last_updated: datetime
    content_hash: str | None
