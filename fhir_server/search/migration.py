"""Bringing stored search values up to the current key format at start-up.

Documents written by an older index format (or before search existed) carry no `sp.k`. When the format
recorded in `search_meta` differs from `INDEX_FORMAT`, the live versions of the types whose keys changed
since are re-indexed once (all types when nothing was recorded) and indexes of the older format are dropped;
on an up-to-date database this is one point read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database

from fhir_server.search.index import LIVE, SearchIndexer
from fhir_server.search.keys import INDEX_NAME
from fhir_server.storage.mongo import MongoRepository
from fhir_server.type_aliases import Document

# Not raised when the keys a search only tests moved from sp.k to sp.t: a document indexed before keeps all
# its keys in sp.k, which still holds every key that drives a search, so it is found as before; it gets the
# smaller index when it is next written. Raised when a key moves from sp.t to sp.k (it starts driving a
# search), re-indexing only the types whose keys moved.
INDEX_FORMAT = 2
# Per format, the types whose live resources must be re-indexed to reach it from the format before; None
# means every type. Format 2: Patient `family`/`given` keys indexed again (were tested only).
_REINDEXED_BY_FORMAT: dict[int, tuple[str, ...] | None] = {1: None, 2: ("Patient",)}
_META = "search_meta"
_FORMAT_ID = "index-format"
_BATCH = 500
_PROGRESS_EVERY_SECONDS = 30.0

log = logging.getLogger(__name__)


def ensure_index_format(
    db: Database[Document], repository: MongoRepository, indexer: SearchIndexer, resource_types: Sequence[str]
) -> int:
    """Re-index live resources if the stored format is outdated; returns how many were re-indexed."""
    meta = db.get_collection(_META)
    recorded = meta.find_one({"_id": _FORMAT_ID})
    version = recorded.get("version") if recorded is not None else None
    if version == INDEX_FORMAT:
        return 0
    reindexed = 0
    for resource_type in _outdated_types(version, resource_types):
        collection = repository.collection(resource_type)
        for name in collection.index_information():
            if name.startswith("sp_") and name != INDEX_NAME:
                collection.drop_index(name)
        reindexed += _reindex(collection, indexer, resource_type, version)
    record_index_format(db)
    return reindexed


def _reindex(
    collection: Collection[Document], indexer: SearchIndexer, resource_type: str, version: object
) -> int:
    total = collection.count_documents(dict(LIVE))
    if total == 0:
        return 0
    # An update costs the embedded database several milliseconds (measured 4-6 ms): large databases take
    # minutes, so say so rather than look hung.
    log.warning(
        "search: re-indexing %d live %s resources from index format %s to %d (once, at start-up)",
        total,
        resource_type,
        version,
        INDEX_FORMAT,
    )
    done = 0
    said = time.monotonic()
    updates: list[UpdateOne] = []
    # `_id` alone selects the document: with the live conditions added each update took 6.0 ms, not 4.4.
    for doc in collection.find(dict(LIVE), {"res": 1}):
        if doc.get("res") is not None:
            updates.append(UpdateOne({"_id": doc["_id"]}, {"$set": {"sp": indexer.index_values(doc["res"])}}))
        if len(updates) == _BATCH:
            done += collection.bulk_write(updates, ordered=False).matched_count
            updates = []
            if time.monotonic() - said > _PROGRESS_EVERY_SECONDS:
                log.warning("search: re-indexed %d of %d %s resources", done, total, resource_type)
                said = time.monotonic()
    if updates:
        done += collection.bulk_write(updates, ordered=False).matched_count
    return done


def _outdated_types(version: object, resource_types: Sequence[str]) -> Sequence[str]:
    if not isinstance(version, int) or not 0 < version < INDEX_FORMAT:
        return resource_types  # never indexed, or a format this code does not know: everything
    changed: set[str] = set()
    for step in range(version + 1, INDEX_FORMAT + 1):
        types = _REINDEXED_BY_FORMAT[step]
        if types is None:
            return resource_types
        changed.update(types)
    return [t for t in resource_types if t in changed]


def record_index_format(db: Database[Document]) -> None:
    """Mark the database as indexed in the current format (for loaders that write through the indexer)."""
    meta = db.get_collection(_META)
    meta.replace_one({"_id": _FORMAT_ID}, {"_id": _FORMAT_ID, "version": INDEX_FORMAT}, upsert=True)
