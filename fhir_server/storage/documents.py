"""A small document store for feature state (tokens, codes, users, clients, keys, links, sync state, …).

Features get a `Documents` and name their collection; they see only the operations below and storage-level
errors (`fhir_server.storage.errors`), never the driver. The atomic operations keep the driver's guarantees
exactly: `find_one_and_update` and conditional `update_one` are single atomic steps in the database (single
use codes, attempt counters, token rotation rely on that), and `insert_one` raises `DuplicateKey` when a
unique index (declared in `fhir_server.storage.schema`) already holds the key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.results import UpdateResult

from fhir_server.storage.errors import DuplicateKey, StorageError
from fhir_server.type_aliases import Document

ASCENDING = 1
DESCENDING = -1

Filter = Mapping[str, Any]
Sort = Sequence[tuple[str, int]]


@dataclass(frozen=True)
class Updated:
    """What an update or replace did: documents matched, modified, and whether an upsert inserted one."""

    matched: int
    modified: int
    upserted: bool


class DocumentCollection(Protocol):
    def find_one(
        self, filter: Filter, projection: Mapping[str, Any] | None = None, *, sort: Sort = ()
    ) -> Document | None: ...

    def find(
        self,
        filter: Filter | None = None,
        projection: Mapping[str, Any] | None = None,
        *,
        sort: Sort = (),
        limit: int = 0,
    ) -> Iterator[Document]: ...

    def count_documents(self, filter: Filter) -> int: ...

    def insert_one(self, document: Document) -> None:
        """Raises DuplicateKey when a unique index already holds the document's key."""
        ...

    def replace_one(self, filter: Filter, document: Document, *, upsert: bool = False) -> Updated: ...

    def update_one(self, filter: Filter, update: Filter, *, upsert: bool = False) -> Updated: ...

    def update_many(self, filter: Filter, update: Filter) -> Updated: ...

    def find_one_and_update(
        self,
        filter: Filter,
        update: Filter,
        projection: Mapping[str, Any] | None = None,
        *,
        return_after: bool = False,
    ) -> Document | None:
        """One atomic step: the matching document before (or, with `return_after`, after) the update."""
        ...

    def delete_one(self, filter: Filter) -> int:
        """How many documents were deleted (0 or 1)."""
        ...

    def delete_many(self, filter: Filter) -> int: ...


class Documents(Protocol):
    def collection(self, name: str) -> DocumentCollection: ...


class MongoDocuments:
    """`Documents` over one pymongo database."""

    def __init__(self, db: Database[Document]) -> None:
        self._db = db

    def collection(self, name: str) -> MongoCollection:
        return MongoCollection(self._db.get_collection(name))


class MongoCollection:
    """`DocumentCollection` over one pymongo collection; driver errors become storage errors."""

    def __init__(self, collection: Collection[Document]) -> None:
        self._collection = collection

    def find_one(
        self, filter: Filter, projection: Mapping[str, Any] | None = None, *, sort: Sort = ()
    ) -> Document | None:
        with _StorageErrors():
            return self._collection.find_one(filter, projection, sort=list(sort) or None)

    def find(
        self,
        filter: Filter | None = None,
        projection: Mapping[str, Any] | None = None,
        *,
        sort: Sort = (),
        limit: int = 0,
    ) -> Iterator[Document]:
        with _StorageErrors():
            cursor = self._collection.find(filter or {}, projection)
            if sort:
                cursor = cursor.sort(list(sort))
            if limit:
                cursor = cursor.limit(limit)
            yield from cursor

    def count_documents(self, filter: Filter) -> int:
        with _StorageErrors():
            return self._collection.count_documents(filter)

    def insert_one(self, document: Document) -> None:
        with _StorageErrors():
            self._collection.insert_one(document)

    def replace_one(self, filter: Filter, document: Document, *, upsert: bool = False) -> Updated:
        with _StorageErrors():
            return _updated(self._collection.replace_one(filter, document, upsert=upsert))

    def update_one(self, filter: Filter, update: Filter, *, upsert: bool = False) -> Updated:
        with _StorageErrors():
            return _updated(self._collection.update_one(filter, update, upsert=upsert))

    def update_many(self, filter: Filter, update: Filter) -> Updated:
        with _StorageErrors():
            return _updated(self._collection.update_many(filter, update))

    def find_one_and_update(
        self,
        filter: Filter,
        update: Filter,
        projection: Mapping[str, Any] | None = None,
        *,
        return_after: bool = False,
    ) -> Document | None:
        after = ReturnDocument.AFTER if return_after else ReturnDocument.BEFORE
        with _StorageErrors():
            return self._collection.find_one_and_update(filter, update, projection, return_document=after)

    def delete_one(self, filter: Filter) -> int:
        with _StorageErrors():
            return self._collection.delete_one(filter).deleted_count

    def delete_many(self, filter: Filter) -> int:
        with _StorageErrors():
            return self._collection.delete_many(filter).deleted_count


class _StorageErrors:
    """Driver exceptions raised inside the block leave it as storage errors (the driver's as the cause)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        if isinstance(error, DuplicateKeyError):
            raise DuplicateKey(str(error)) from error
        if isinstance(error, PyMongoError):
            raise StorageError(str(error)) from error


def _updated(result: UpdateResult) -> Updated:
    return Updated(result.matched_count, result.modified_count, result.upserted_id is not None)
