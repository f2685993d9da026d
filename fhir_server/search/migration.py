"""The search key format, and bringing stored search values up to it at start-up.

The re-indexing itself is storage's (`fhir_server.storage.migrations`, run by `ensure_schema`); this module
says which format is current and which types each format re-keyed.
"""

from __future__ import annotations

from collections.abc import Sequence

from fhir_server.resource_types import MODELS
from fhir_server.search.index import SearchIndexer, search_indexes
from fhir_server.search.keys import INDEX_NAME
from fhir_server.storage.connection import DatabaseConnection
from fhir_server.storage.migrations import (
    SearchKeyFormat,
    outdated_types,
    record_search_key_format,
    reindex_search_keys,
)
from fhir_server.storage.schema import ensure_schema

# Not raised when the keys a search only tests moved from sp.k to sp.t: a document indexed before keeps all
# its keys in sp.k, which still holds every key that drives a search, so it is found as before; it gets the
# smaller index when it is next written. Raised when a key moves from sp.t to sp.k (it starts driving a
# search), re-indexing only the types whose keys moved.
INDEX_FORMAT = 2
# Per format, the types whose live resources must be re-indexed to reach it from the format before; None
# means every type. Format 2: Patient `family`/`given` keys indexed again (were tested only).
_REINDEXED_BY_FORMAT: dict[int, tuple[str, ...] | None] = {1: None, 2: ("Patient",)}


def key_format(indexer: SearchIndexer) -> SearchKeyFormat:
    return SearchKeyFormat(INDEX_FORMAT, _REINDEXED_BY_FORMAT, indexer.index_values, INDEX_NAME)


def ensure_index_format(
    connection: DatabaseConnection, indexer: SearchIndexer, resource_types: Sequence[str]
) -> int:
    """Re-index live resources if the stored format is outdated; returns how many were re-indexed."""
    return reindex_search_keys(connection, resource_types, key_format(indexer))


def _outdated_types(version: object, resource_types: Sequence[str]) -> Sequence[str]:
    return outdated_types(version, resource_types, key_format(SearchIndexer()))


def record_index_format(connection: DatabaseConnection) -> None:
    """Mark the database as indexed in the current format (for loaders that write through the indexer)."""
    record_search_key_format(connection, INDEX_FORMAT)


def ensure_server_schema(connection: DatabaseConnection, indexer: SearchIndexer | None) -> int:
    """The whole schema (`fhir_server.storage.schema`) with this server's resource types and search index;
    with an `indexer`, stored search keys are brought up to the current format too (how many re-indexed)."""
    return ensure_schema(
        connection, list(MODELS), search_indexes, None if indexer is None else key_format(indexer)
    )
