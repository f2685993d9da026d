"""A small document store for feature state (tokens, codes, users, clients, keys, links, sync state, …).

Features get a `Documents` and name their collection; they see only the operations below and storage-level
errors (`fhir_server.storage.errors`), never the driver. The atomic operations keep the driver's guarantees
exactly: `find_one_and_update` and conditional `update_one` are single atomic steps in the database (single
use codes, attempt counters, token rotation rely on that), and `insert_one` raises `DuplicateKey` when a
unique index (declared in `fhir_server.storage.schema`) already holds the key. `insert_many` is the one
bulk write, for append-only logs: unordered, and `durable=False` trades the journal flush for throughput
(the database acknowledges the write before its journal holds it: the last moments before a crash of the
database can be lost), a choice each caller states.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pymongo import ReturnDocument
from pymongo.change_stream import CollectionChangeStream
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.results import UpdateResult
from pymongo.write_concern import WriteConcern

from fhir_server.storage.errors import DuplicateKey, StorageError
from fhir_server.storage.memory_only import round_trip
from fhir_server.type_aliases import Document

ASCENDING = 1
DESCENDING = -1

Filter = Mapping[str, Any]
Sort = Sequence[tuple[str, int]]

# Acknowledged by the database without waiting for its journal (`insert_many(durable=False)`).
_UNJOURNALED = WriteConcern(w=1, j=False)
_DUPLICATE_KEY = 11000
# Error codes of a deployment without change streams: "only supported on replica sets" (40573), a command
# or stage the server does not know (59, 115, 40324).
_NO_CHANGE_STREAMS = frozenset({40573, 59, 115, 40324})


def no_change_streams(exc: OperationFailure) -> bool:
    """Whether opening a change stream failed because the deployment serves none (a standalone MongoDB)."""
    return exc.code in _NO_CHANGE_STREAMS or "replica set" in str(exc)


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

    def insert_many(self, documents: Sequence[Document], *, durable: bool) -> None:
        """Insert in one unordered bulk write: a document that fails does not stop the others. `durable`:
        acknowledged once the database's journal holds the write (as every other write here); False: once
        the database has applied it. Raises DuplicateKey when every failure was a duplicate key."""
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

    def watch_changes(self, *, wait_seconds: float) -> ChangeFeed:
        """The changes to this collection from now on (a change stream), as document ids and operations.
        Raises ChangeStreamsUnsupported when the database serves none (a standalone MongoDB)."""
        ...


class ChangeStreamsUnsupported(StorageError):
    """The database serves no change streams (a standalone MongoDB: only replica sets and SecantusDB do)."""


@dataclass(frozen=True)
class Change:
    """One change of a watched collection: its operation (insert, update, replace, delete; invalidate, drop,
    rename… end the feed) and the changed document's `_id` (None for collection-level events)."""

    operation: str
    key: Any


class ChangeFeed(Protocol):
    def next_change(self) -> Change | None:
        """The next change, or None when none came within the feed's wait."""
        ...

    def close(self) -> None: ...


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
        self._unjournaled: Collection[Document] | None = None

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

    def insert_many(self, documents: Sequence[Document], *, durable: bool) -> None:
        if not documents:
            return
        collection = self._collection
        if not durable:
            if self._unjournaled is None:
                self._unjournaled = collection.with_options(write_concern=_UNJOURNALED)
            collection = self._unjournaled
        with _StorageErrors():
            collection.insert_many(list(documents), ordered=False)

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

    def watch_changes(self, *, wait_seconds: float) -> MongoChangeFeed:
        try:
            stream = self._collection.watch(max_await_time_ms=max(1, int(wait_seconds * 1000)))
        except OperationFailure as exc:
            if no_change_streams(exc):
                raise ChangeStreamsUnsupported(str(exc)) from exc
            raise StorageError(str(exc)) from exc
        except PyMongoError as exc:
            raise StorageError(str(exc)) from exc
        return MongoChangeFeed(stream)


class MongoChangeFeed:
    """`ChangeFeed` over one pymongo change stream."""

    def __init__(self, stream: CollectionChangeStream[Document]) -> None:
        self._stream = stream

    def next_change(self) -> Change | None:
        with _StorageErrors():
            event = self._stream.try_next()
        if event is None:
            return None
        key = event.get("documentKey")
        return Change(str(event.get("operationType")), key.get("_id") if isinstance(key, dict) else None)

    def close(self) -> None:
        with _StorageErrors():
            self._stream.close()


class _StorageErrors:
    """Driver exceptions raised inside the block leave it as storage errors (the driver's as the cause)."""

    def __enter__(self) -> None:
        round_trip()  # every call of the document store is a round trip (refused when memory only)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        if isinstance(error, DuplicateKeyError) or _only_duplicate_keys(error):
            raise DuplicateKey(str(error)) from error
        if isinstance(error, PyMongoError):
            raise StorageError(str(error)) from error


def _only_duplicate_keys(error: BaseException | None) -> bool:
    if not isinstance(error, BulkWriteError):
        return False
    details = error.details
    failures = [*details.get("writeErrors", []), *details.get("writeConcernErrors", [])]
    return bool(failures) and all(failure.get("code") == _DUPLICATE_KEY for failure in failures)


def _updated(result: UpdateResult) -> Updated:
    return Updated(result.matched_count, result.modified_count, result.upserted_id is not None)
