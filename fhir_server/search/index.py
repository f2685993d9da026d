"""Search values precomputed on every write and stored in `sp` of the current version document.

`sp.k` holds the index keys of every registered parameter (grammar in `fhir_server.search.keys`) and is the
only indexed search field; `sp.t` holds the keys a search tests but drives through another key, `sp.x`
original strings for `:exact`. The index is partial on
`{cur: true, del: false}`, so it holds live resources only and a query that states those two conditions
is planned on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhir_server.search.extract import split_resource_keys
from fhir_server.search.keys import INDEX_NAME, KEYS_FIELD
from fhir_server.storage.schema import Index
from fhir_server.type_aliases import JsonObject

LIVE: dict[str, Any] = {"cur": True, "del": False}


class SearchIndexer:
    """Index values for the repository; `own_bases` are this server's public base URLs, so absolute
    references to them index as `Type/id`."""

    def __init__(self, own_bases: Sequence[str] = ()) -> None:
        self._own_bases = tuple(b.rstrip("/") for b in own_bases if b)

    def index_values(self, resource: JsonObject) -> dict[str, list[Any]]:
        split = split_resource_keys(resource, self._own_bases)
        return {"k": split.indexed, "t": split.unindexed, "x": split.exact}


def index_values(resource: JsonObject) -> dict[str, list[Any]]:
    return SearchIndexer().index_values(resource)


def search_indexes(resource_type: str) -> list[Index]:
    """The search index of a resource collection (its row of `fhir_server.storage.schema`)."""
    return [Index(INDEX_NAME, ((KEYS_FIELD, 1),), partial=dict(LIVE))]
