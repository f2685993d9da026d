"""`Repository` over pymongo: one collection per resource type, one document per resource version.

Document shape (collection named after the resource type):
    _id   "<id>/<version>"     unique, so inserting version n+1 is the compare-and-set of a write
    id    resource id
    v     version number (int)
    cur   true on the latest version only
    ts    lastUpdated (datetime, ms precision)
    del   true for a deletion
    m     HTTP method that produced the version
    res   the resource JSON with meta.versionId/lastUpdated (absent for a deletion)
    sp    precomputed normalized search values; only on the current, non-deleted version, so search
          indexes hold live resources only

A create is a single insert. An update inserts version n+1 and retires older versions in one transaction
when the database supports transactions (replica set, SecantusDB); on a standalone MongoDB the retirement
is idempotent and re-run by the next write, and reads always pick the highest version.

Reads by id go through the current-version cache when the repository has one (`cache_entries`,
`cache_bytes`; `fhir_server.storage.version_cache`), kept exact by the change feed
(`fhir_server.storage.change_feed`): every write through a repository with a feed returns only once every
other live feed forgot what it replaced, so a read that starts after a write was answered — in any worker
or server on the database — sees it (410 for a deletion everywhere at once). Within its lease a feed's
entries are served with no database round trip; otherwise (starting, heartbeat failing, no change streams)
each only after one covered lookup on the `id_version` index confirmed that its version is still the
current one. Inside a transaction the cache is neither read nor filled; the transaction's writes wait for
the feeds after its commit.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from fhir_server.storage.change_feed import ReadMode, VersionFeed, Written
from fhir_server.storage.connection import DatabaseConnection
from fhir_server.storage.errors import TransactionConflict
from fhir_server.storage.memory_only import round_trip
from fhir_server.storage.repository import (
    HistoryCursor,
    HistoryPage,
    IndexValues,
    Method,
    ResourceVersion,
    TransactionsUnsupported,
    VersionConflict,
)
from fhir_server.storage.version_cache import CachedVersion, VersionCache, fresh
from fhir_server.storage.write_journal import COLLECTION as JOURNAL
from fhir_server.storage.write_journal import JOURNALED_TYPES, journal_entry
from fhir_server.type_aliases import Document, JsonObject

__all__ = ["MongoRepository", "TransactionsUnsupported", "content_hash", "format_instant"]

_WRITE_CONFLICT = 112


def format_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class _Expected:
    mark: int  # the cache's mark before the write
    written: Written | None  # what the feed's fence waits for


class MongoRepository:
    def __init__(
        self,
        connection: DatabaseConnection,
        resource_types: Sequence[str],
        index_values: IndexValues,
        *,
        cache_entries: int = 0,
        cache_bytes: int = 0,
        cache_ttl_seconds: float = 1.0,
    ) -> None:
        """With `cache_entries` and `cache_bytes` above 0, reads by id use a current-version cache kept by a
        change feed thread (stopped by `close`, or when the connection is closed)."""
        self._connection = connection
        self._types = tuple(resource_types)
        self._index_values = index_values
        self._session: ClientSession | None = None
        self._pending: list[Written] | None = None  # a transaction's writes, for the feeds after its commit
        self._collections: dict[str, Collection[Document]] = {
            t: connection.db.get_collection(t) for t in self._types
        }
        self.cache: VersionCache | None = None
        self.feed: VersionFeed | None = None
        if cache_entries > 0 and cache_bytes > 0:
            self.cache = VersionCache(cache_entries, cache_bytes)
            self.feed = VersionFeed(
                connection.db, self._types, self.cache, ttl_seconds=cache_ttl_seconds
            ).start()

    def close(self) -> None:
        """Stop the change feed (the cache is bypassed from then on)."""
        if self.feed is not None:
            self.feed.stop()

    # -- collections (indexes: fhir_server.storage.schema) -------------------------------------------------

    def collection(self, resource_type: str) -> Collection[Document]:
        """The version documents of a type (outside storage only as a `VersionReader`, for search)."""
        round_trip()
        return self._collections[resource_type]

    # -- reads --------------------------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> ResourceVersion | None:
        usable = self._usable_cache()
        if usable is None:
            doc = self._latest(resource_type, resource_id)
            return None if doc is None else _to_version(resource_type, doc)
        cache, mode = usable
        since = cache.mark()
        entry = cache.get(resource_type, resource_id)
        if entry is not None and fresh(entry, mode.ttl):
            if not mode.check:
                return _from_cache(resource_type, resource_id, entry)
            # One covered index lookup: is the cached version still the current one?
            round_trip()
            current = self._collections[resource_type].find_one(
                {"id": resource_id}, {"_id": 0, "v": 1}, sort=[("v", -1)]
            )
            if current is None:
                cache.discard(resource_type, resource_id)
                return None
            if current["v"] == entry.version:
                return _from_cache(resource_type, resource_id, entry)
        doc = self._latest(resource_type, resource_id)
        if doc is None:
            cache.discard(resource_type, resource_id)
            return None
        version = _to_version(resource_type, doc, serialized=True)
        self._remember(cache, version, since)
        return version

    def vread(self, resource_type: str, resource_id: str, version: int) -> ResourceVersion | None:
        # A version never changes: the cached entry, even if no longer current, is that version (a document
        # edited in place is forgotten by the change feed). Any other version comes from the database.
        if (cache := self._usable_cache()) is not None:
            entry = cache[0].get(resource_type, resource_id)
            if entry is not None and entry.version == version and fresh(entry, cache[1].ttl):
                return _from_cache(resource_type, resource_id, entry)
        round_trip()
        doc = self._collections[resource_type].find_one(
            {"_id": f"{resource_id}/{version}"}, session=self._session
        )
        return None if doc is None else _to_version(resource_type, doc)

    def _usable_cache(self) -> tuple[VersionCache, ReadMode] | None:
        """The cache and how to use it, when reads may: outside transactions, while the feed is healthy."""
        if self.cache is None or self.feed is None or self._session is not None:
            return None
        mode = self.feed.read_mode()
        return None if mode is None else (self.cache, mode)

    def _remember(self, cache: VersionCache, version: ResourceVersion, since: int) -> None:
        cache.put(
            version.resource_type,
            version.id,
            CachedVersion(
                version=version.version,
                last_updated=version.last_updated,
                deleted=version.deleted,
                method=version.method,
                json=version.json,
                stored_at=time.monotonic(),
            ),
            since,
        )

    def _expect(self, resource_type: str, doc: Document) -> _Expected:
        """Before a write: the cache's mark, and the write noted for the feed's fence."""
        if self.feed is None or self.cache is None:
            return _Expected(0, None)
        return _Expected(self.cache.mark(), self.feed.expect(resource_type, doc["_id"]))

    def _failed_write(self, expected: _Expected) -> None:
        if self.feed is not None:
            self.feed.forget(expected.written)

    def _written(self, resource_type: str, doc: Document, expected: _Expected) -> ResourceVersion:
        """The version just written. Committed (outside a transaction), it is cached once every feed forgot
        the version it replaced; inside one, the transaction waits for them after its commit."""
        if self.cache is None or self.feed is None:
            return _to_version(resource_type, doc)
        if self._session is not None:
            # Not committed yet (and it may never be): forget the older version, keep nothing.
            self.cache.discard(resource_type, doc["id"])
            if expected.written is not None and self._pending is not None:
                self._pending.append(expected.written)
            return _to_version(resource_type, doc)
        self.feed.settle([expected.written])
        version = _to_version(resource_type, doc, serialized=True)
        if (cache := self._usable_cache()) is not None:
            self._remember(cache[0], version, expected.mark)
        return version

    def _latest(
        self, resource_type: str, resource_id: str, session: ClientSession | None = None
    ) -> Document | None:
        round_trip()
        return self._collections[resource_type].find_one(
            {"id": resource_id}, sort=[("v", -1)], session=session or self._session
        )

    # -- writes -------------------------------------------------------------------------------------------

    def create(self, resource: JsonObject, resource_id: str | None = None) -> ResourceVersion:
        """`resource_id` is for ids the server itself chose beforehand (transaction bundles)."""
        round_trip()
        resource_type = resource["resourceType"]
        resource_id = resource_id or str(uuid.uuid4())
        doc = self._version_doc(resource_type, resource_id, 1, now(), resource, "POST")
        expected = self._expect(resource_type, doc)
        try:
            self._journal(resource_type, doc, None)
            self._collections[resource_type].insert_one(doc, session=self._session)
        except BaseException:
            self._failed_write(expected)
            raise
        return self._written(resource_type, doc, expected)

    def update(
        self, resource: JsonObject, *, expected_version: int | None, method: Method = "PUT"
    ) -> tuple[ResourceVersion, bool]:
        resource_type = resource["resourceType"]
        resource_id = resource["id"]
        latest = self._latest(resource_type, resource_id)
        current = latest["v"] if latest is not None else None
        if expected_version is not None and (current != expected_version or latest is None or latest["del"]):
            raise VersionConflict(current)
        version = (current or 0) + 1
        doc = self._version_doc(resource_type, resource_id, version, _later_than(latest), resource, method)
        expected = self._write_version(resource_type, doc, current)
        return self._written(resource_type, doc, expected), latest is None or bool(latest["del"])

    def delete(
        self, resource_type: str, resource_id: str, *, expected_version: int | None = None
    ) -> ResourceVersion | None:
        latest = self._latest(resource_type, resource_id)
        if latest is None or latest["del"]:
            if expected_version is not None:
                raise VersionConflict(None if latest is None else latest["v"])
            return None
        if expected_version is not None and latest["v"] != expected_version:
            raise VersionConflict(latest["v"])
        version = latest["v"] + 1
        doc = self._version_doc(resource_type, resource_id, version, _later_than(latest), None, "DELETE")
        expected = self._write_version(resource_type, doc, latest["v"])
        return self._written(resource_type, doc, expected)

    def _version_doc(
        self,
        resource_type: str,
        resource_id: str,
        version: int,
        moment: datetime,
        resource: JsonObject | None,
        method: Method,
    ) -> Document:
        doc: Document = {
            "_id": f"{resource_id}/{version}",
            "id": resource_id,
            "v": version,
            "cur": True,
            "ts": moment,
            "del": resource is None,
            "m": method,
        }
        if resource is not None:
            stored = dict(resource)
            stored["id"] = resource_id
            meta = dict(stored.get("meta") or {})
            meta["versionId"] = str(version)
            meta["lastUpdated"] = format_instant(moment)
            stored["meta"] = meta
            doc["res"] = stored
            doc["sp"] = dict(self._index_values(stored))
            doc["h"] = content_hash(stored)
        return doc

    def _write_version(self, resource_type: str, doc: Document, previous: int | None) -> _Expected:
        expected = self._expect(resource_type, doc)
        try:
            self._insert_version(resource_type, doc, previous)
        except BaseException:
            self._failed_write(expected)
            raise
        return expected

    def _insert_version(self, resource_type: str, doc: Document, previous: int | None) -> None:
        collection = self._collections[resource_type]
        self._journal(resource_type, doc, previous)
        try:
            with self._transaction() as session:
                collection.insert_one(doc, session=session)
                if previous is not None:
                    # update_many also repairs a 'cur' flag left behind by a crash on a standalone server.
                    collection.update_many(
                        {"id": doc["id"], "cur": True, "v": {"$lt": doc["v"]}},
                        {"$set": {"cur": False}, "$unset": {"sp": ""}},
                        session=session,
                    )
        except DuplicateKeyError:
            raise VersionConflict(previous) from None
        except OperationFailure as exc:
            if exc.code == _WRITE_CONFLICT or exc.has_error_label("TransientTransactionError"):
                raise VersionConflict(previous) from None
            raise

    def _journal(self, resource_type: str, doc: Document, previous: int | None) -> None:
        """Journal the version before writing it (fhir_server.storage.write_journal): outside any
        transaction, so that journaling never makes two writes conflict."""
        if resource_type not in JOURNALED_TYPES or not self._connection.journal_gate.wanted():
            return
        # A concurrent writer of the same version journaled it already: one entry, for whoever wins.
        with contextlib.suppress(DuplicateKeyError):
            self._connection.db.get_collection(JOURNAL).insert_one(
                journal_entry(resource_type, doc, previous)
            )

    @contextmanager
    def transaction(self) -> Iterator[MongoRepository]:
        """A repository whose reads and writes all belong to one multi-document transaction."""
        round_trip()
        if not self._connection.supports_transactions:
            raise TransactionsUnsupported(
                "This MongoDB deployment does not support transactions: use a replica set (or the embedded "
                "database) for transaction bundles"
            )
        write_concern = self._connection.db.write_concern
        pending: list[Written] = []
        try:
            with (
                self._connection.client.start_session() as session,
                session.start_transaction(write_concern=write_concern),
            ):
                bound = copy.copy(self)
                bound._session = session
                bound._pending = pending
                try:
                    yield bound
                except BaseException:
                    for written in pending:  # aborted: no events will come
                        self._failed_write(_Expected(0, written))
                    raise
            # Committed: answered once every feed forgot what the transaction replaced.
            if self.feed is not None and pending:
                self.feed.settle(pending)
        except PyMongoError as exc:
            # Aborted by a concurrent transaction (in the body or at commit): callers decide whether that is
            # a conflict for their client; any other driver error stays what it was.
            for written in pending:
                self._failed_write(_Expected(0, written))
            if exc.has_error_label("TransientTransactionError"):
                raise TransactionConflict(str(exc)) from exc
            raise

    @contextmanager
    def _transaction(self) -> Iterator[ClientSession | None]:
        if self._session is not None:
            yield self._session  # already inside a bundle's transaction
            return
        if not self._connection.supports_transactions:
            yield None
            return
        # The transaction's write concern must be the journaled one; the default is the client's.
        write_concern = self._connection.db.write_concern
        with (
            self._connection.client.start_session() as session,
            session.start_transaction(write_concern=write_concern),
        ):
            yield session

    # -- history ------------------------------------------------------------------------------------------

    def history(
        self,
        *,
        resource_type: str | None,
        resource_id: str | None,
        since: datetime | None,
        count: int,
        cursor: HistoryCursor | None,
    ) -> HistoryPage:
        round_trip()
        types = [resource_type] if resource_type else list(self._types)
        base: Document = {}
        if resource_id is not None:
            base["id"] = resource_id
        if since is not None:
            base["ts"] = {"$gte": since}
        gathered: list[tuple[datetime, str, str, Document]] = []
        total = 0
        for t in types:
            collection = self._collections[t]
            total += collection.count_documents(base, session=self._session)
            if count == 0:
                continue
            query = dict(base)
            if cursor is not None:
                query = {"$and": [base, _after_cursor(t, cursor)]} if base else _after_cursor(t, cursor)
            for doc in (
                collection.find(query, session=self._session).sort([("ts", -1), ("_id", -1)]).limit(count + 1)
            ):
                gathered.append((doc["ts"], t, doc["_id"], doc))
        gathered.sort(key=lambda item: (item[0], item[1], item[2]), reverse=True)
        page = gathered[:count]
        next_cursor = None
        if len(gathered) > count:
            ts, t, key, _ = page[-1]
            next_cursor = HistoryCursor(ts, t, key)
        return HistoryPage([_to_version(t, doc) for _, t, _, doc in page], next_cursor, total)

    # -- search support -----------------------------------------------------------------------------------

    def find_current(
        self,
        resource_type: str,
        query: Mapping[str, Any],
        *,
        sort: Sequence[tuple[str, int]] = (),
        skip: int = 0,
        limit: int = 0,
    ) -> list[ResourceVersion]:
        round_trip()
        filter_ = {"cur": True, "del": False, **query}
        cursor = self._collections[resource_type].find(filter_, session=self._session)
        if sort:
            cursor = cursor.sort(list(sort))
        if skip:
            cursor = cursor.skip(skip)
        if limit:
            cursor = cursor.limit(limit)
        return [_to_version(resource_type, doc) for doc in cursor]

    def count_current(self, resource_type: str, query: Mapping[str, Any]) -> int:
        round_trip()
        return self._collections[resource_type].count_documents(
            {"cur": True, "del": False, **query}, session=self._session
        )


def content_hash(resource: JsonObject) -> str:
    """Hash of a resource's content, ignoring the server-set meta.versionId and meta.lastUpdated."""
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    content = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        content["meta"] = meta
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _after_cursor(resource_type: str, cursor: HistoryCursor) -> Document:
    # Entries strictly after the cursor in (ts desc, type desc, key desc) order.
    if resource_type < cursor.resource_type:
        return {"ts": {"$lte": cursor.last_updated}}
    if resource_type > cursor.resource_type:
        return {"ts": {"$lt": cursor.last_updated}}
    return {
        "$or": [
            {"ts": {"$lt": cursor.last_updated}},
            {"ts": cursor.last_updated, "_id": {"$lt": cursor.key}},
        ]
    }


def _later_than(latest: Document | None) -> datetime:
    # lastUpdated must grow with each version even if the clock does not.
    moment = now()
    if latest is not None:
        previous = as_utc(latest["ts"])
        if moment <= previous:
            moment = previous + timedelta(milliseconds=1)
    return moment


def as_utc(moment: datetime) -> datetime:
    # pymongo hands back its own fixed-offset UTC tzinfo; email.utils and comparisons want datetime.UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _to_version(resource_type: str, doc: Document, *, serialized: bool = False) -> ResourceVersion:
    ts = as_utc(doc["ts"])
    resource = doc.get("res")
    return ResourceVersion(
        resource_type=resource_type,
        id=doc["id"],
        version=doc["v"],
        last_updated=ts,
        deleted=doc["del"],
        method=doc["m"],
        resource=resource,
        json=orjson.dumps(resource) if serialized and resource is not None else None,
    )


def _from_cache(resource_type: str, resource_id: str, entry: CachedVersion) -> ResourceVersion:
    # Each caller gets its own parsed copy (for access decisions); the bytes are the response body.
    return ResourceVersion(
        resource_type=resource_type,
        id=resource_id,
        version=entry.version,
        last_updated=entry.last_updated,
        deleted=entry.deleted,
        method=entry.method,
        resource=orjson.loads(entry.json) if entry.json is not None else None,
        json=entry.json,
    )
