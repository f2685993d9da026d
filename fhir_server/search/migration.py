"""Bringing stored search values up to the current key format at start-up.

Documents written by an older index format (or before search existed) carry no `sp.k`. When the format
recorded in `search_meta` differs from `INDEX_FORMAT`, every live version is re-indexed once and indexes
of the older format are dropped; on an up-to-date database this is one point read.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.database import Database

from fhir_server.search.index import LIVE, SearchIndexer
from fhir_server.search.keys import INDEX_NAME
from fhir_server.storage.mongo import Document, MongoRepository

# Not raised when the keys a search only tests moved from sp.k to sp.t: a document indexed before keeps all
# its keys in sp.k, which still holds every key that drives a search, so it is found as before; it gets the
# smaller index when it is next written. Re-indexing every resource at start-up would buy nothing.
INDEX_FORMAT = 1
_META = "search_meta"
_FORMAT_ID = "index-format"


def ensure_index_format(
    db: Database[Document], repository: MongoRepository, indexer: SearchIndexer, resource_types: Sequence[str]
) -> int:
    """Re-index live resources if the stored format is outdated; returns how many were re-indexed."""
    meta = db.get_collection(_META)
    recorded = meta.find_one({"_id": _FORMAT_ID})
    if recorded is not None and recorded.get("version") == INDEX_FORMAT:
        return 0
    reindexed = 0
    for resource_type in resource_types:
        collection = repository.collection(resource_type)
        for name in collection.index_information():
            if name.startswith("sp_") and name != INDEX_NAME:
                collection.drop_index(name)
        for doc in collection.find(dict(LIVE), {"res": 1}):
            if doc.get("res") is not None:
                values = indexer.index_values(doc["res"])
                collection.update_one({"_id": doc["_id"], **LIVE}, {"$set": {"sp": values}})
                reindexed += 1
    record_index_format(db)
    return reindexed


def record_index_format(db: Database[Document]) -> None:
    """Mark the database as indexed in the current format (for loaders that write through the indexer)."""
    meta = db.get_collection(_META)
    meta.replace_one({"_id": _FORMAT_ID}, {"_id": _FORMAT_ID, "version": INDEX_FORMAT}, upsert=True)
