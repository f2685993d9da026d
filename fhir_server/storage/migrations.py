"""Storage migrations run at start-up by `fhir_server.storage.schema.ensure_schema`.

The search key format: documents written by an older index format (or before search existed) carry no
`sp.k`. When the format recorded in `search_meta` differs from the current one, the live versions of the
types whose keys changed since are re-indexed once (all types when nothing was recorded) and indexes of the
older format are dropped; on an up-to-date database this is one point read. Which types changed in which
format is the search package's knowledge (`fhir_server.search.migration`); this module does the writing.
The collections of standalone types (`fhir_server.storage.schema.STANDALONE_COLLECTIONS`: the audit log) are
re-indexed with them.

Version fields: the audit log stored its events without them (`id`, `v`, `cur`, `del`, `m`, `sp`) before
AuditEvent search went through the search engine. Such documents become a first, live version with search
keys, once: a marker in `search_meta` records that a collection was done, so on later starts this is one
point read too (events written since always carry the fields).

Retired indexes (`fhir_server.storage.schema.RETIRED_INDEXES`) are dropped where they still exist.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import UpdateOne
from pymongo.collection import Collection

from fhir_server.storage.connection import DatabaseConnection
from fhir_server.storage.repository import IndexValues
from fhir_server.type_aliases import Document

_META = "search_meta"
_FORMAT_ID = "index-format"
_VERSION_FIELDS_ID = "version-fields:{collection}"
_LIVE: Document = {"cur": True, "del": False}
_BATCH = 500
_PROGRESS_EVERY_SECONDS = 30.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchKeyFormat:
    version: int
    # Per version, the types whose live resources must be re-indexed to reach it from the version before;
    # None means every type.
    reindexed_by_version: Mapping[int, tuple[str, ...] | None]
    index_values: IndexValues
    index_name: str  # the current search index; other `sp_*` indexes belong to older formats


def reindex_search_keys(
    connection: DatabaseConnection,
    resource_types: Sequence[str],
    key_format: SearchKeyFormat,
    *,
    standalone: Mapping[str, str] | None = None,
) -> int:
    """Re-index live resources if the stored format is outdated; returns how many were re-indexed.
    `standalone`: collection name -> the standalone type whose version documents it holds."""
    meta = connection.db.get_collection(_META)
    recorded = meta.find_one({"_id": _FORMAT_ID})
    version = recorded.get("version") if recorded is not None else None
    if version == key_format.version:
        return 0
    targets = [(t, t) for t in resource_types] + list((standalone or {}).items())
    outdated = set(outdated_types(version, [t for _, t in targets], key_format))
    reindexed = 0
    for collection_name, resource_type in targets:
        if resource_type not in outdated:
            continue
        collection = connection.db.get_collection(collection_name)
        for name in collection.index_information():
            if name.startswith("sp_") and name != key_format.index_name:
                collection.drop_index(name)
        reindexed += _reindex(collection, key_format, resource_type, version)
    record_search_key_format(connection, key_format.version)
    return reindexed


def add_version_fields(
    connection: DatabaseConnection, collections: Mapping[str, str], key_format: SearchKeyFormat
) -> int:
    """Documents of the standalone collections (name -> type) stored without version fields become the
    first, live version of their resource `res`, with its search keys; once per collection. Returns how
    many documents that updated."""
    meta = connection.db.get_collection(_META)
    updated = 0
    for name, resource_type in collections.items():
        marker = _VERSION_FIELDS_ID.format(collection=name)
        if meta.find_one({"_id": marker}) is not None:
            continue
        collection = connection.db.get_collection(name)
        done = 0
        updates: list[UpdateOne] = []
        for doc in collection.find({"cur": {"$exists": False}}, {"res": 1}):
            resource = doc.get("res")
            if not isinstance(resource, dict):
                continue
            fields = {
                "id": resource.get("id", doc["_id"]),
                "v": 1,
                "cur": True,
                "del": False,
                "m": "POST",
                "sp": dict(key_format.index_values(resource)),
            }
            updates.append(UpdateOne({"_id": doc["_id"], "cur": {"$exists": False}}, {"$set": fields}))
            if len(updates) == _BATCH:
                done += collection.bulk_write(updates, ordered=False).modified_count
                updates = []
        if updates:
            done += collection.bulk_write(updates, ordered=False).modified_count
        if done:
            log.warning("%s: added version fields to %d %s documents (once)", name, done, resource_type)
        updated += done
        meta.replace_one({"_id": marker}, {"_id": marker, "done": datetime.now(UTC)}, upsert=True)
    return updated


def drop_indexes(connection: DatabaseConnection, retired: Mapping[str, Sequence[str]]) -> None:
    """Drop the named indexes of each collection where they exist."""
    for name, indexes in retired.items():
        collection = connection.db.get_collection(name)
        present = collection.index_information()
        for index in indexes:
            if index in present:
                collection.drop_index(index)


def outdated_types(
    version: object, resource_types: Sequence[str], key_format: SearchKeyFormat
) -> Sequence[str]:
    if not isinstance(version, int) or not 0 < version < key_format.version:
        return resource_types  # never indexed, or a format this code does not know: everything
    changed: set[str] = set()
    for step in range(version + 1, key_format.version + 1):
        types = key_format.reindexed_by_version[step]
        if types is None:
            return resource_types
        changed.update(types)
    return [t for t in resource_types if t in changed]


def record_search_key_format(connection: DatabaseConnection, version: int) -> None:
    """Mark the database as indexed in `version` (for loaders that write through the current indexer)."""
    meta = connection.db.get_collection(_META)
    meta.replace_one({"_id": _FORMAT_ID}, {"_id": _FORMAT_ID, "version": version}, upsert=True)


def _reindex(
    collection: Collection[Document], key_format: SearchKeyFormat, resource_type: str, version: object
) -> int:
    total = collection.count_documents(dict(_LIVE))
    if total == 0:
        return 0
    # An update costs the embedded database several milliseconds (measured 4-6 ms): large databases take
    # minutes, so say so rather than look hung.
    log.warning(
        "search: re-indexing %d live %s resources from index format %s to %d (once, at start-up)",
        total,
        resource_type,
        version,
        key_format.version,
    )
    done = 0
    said = time.monotonic()
    updates: list[UpdateOne] = []
    # `_id` alone selects the document: with the live conditions added each update took 6.0 ms, not 4.4.
    for doc in collection.find(dict(_LIVE), {"res": 1}):
        if doc.get("res") is not None:
            values = dict(key_format.index_values(doc["res"]))
            updates.append(UpdateOne({"_id": doc["_id"]}, {"$set": {"sp": values}}))
        if len(updates) == _BATCH:
            done += collection.bulk_write(updates, ordered=False).matched_count
            updates = []
            if time.monotonic() - said > _PROGRESS_EVERY_SECONDS:
                log.warning("search: re-indexed %d of %d %s resources", done, total, resource_type)
                said = time.monotonic()
    if updates:
        done += collection.bulk_write(updates, ordered=False).matched_count
    return done
