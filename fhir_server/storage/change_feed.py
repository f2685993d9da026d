"""The change feed: one thread per process applying the database's change events to the version cache,
and the fence that makes a write wait until every other process's cache has forgotten what it replaced.

**Invalidation.** A change stream on the resource collections (a replica set or SecantusDB deliver them)
reports every write — of this process, another worker, another server on the same database, or made directly
to the database by another process (the CLI import, an operator's mongosh). Events name the version document
(`_id` "<id>/<version>"):

    insert of version v            forget the entry if it holds a version below v
    update/replace/delete of v     forget the entry if it holds version v or below (an in-place change)
    drop of a collection           forget that type; anything else unexpected: forget everything

**Read-your-writes across processes (the fence).** Each feed keeps a document in `version_cache_feeds`
(`seen`: the cluster time of the last resource event it applied; `n`: a heartbeat number) and renews it every
lease/4 and whenever it applied new events. The same stream carries those documents' changes, so every feed
knows the others' progress without asking. A write through `MongoRepository` waits, after its commit, until
its own feed applied its event (cluster time T) and every other live feed reported `seen` >= T; a feed not
heard from for a lease is not waited for. A feed serves entries without asking the database only within
its own lease: until `lease - margin` after it *sent* a heartbeat whose event it has since applied (so it
applied everything before it). A stuck, partitioned or paused process thus stops trusting its cache before
writers stop waiting for it. Outside the lease (just started, a heartbeat failing) entries are still
served, but each after one covered lookup of the current version number (exact, one small round trip).

Writes by processes without a feed (CLI commands, other tools) do not wait: their events reach every cache
within the stream's latency (typically milliseconds), and a cached entry is never served past an event.

**Failures.** The cache is emptied when the stream opens (anything filled before may have missed events)
and whenever it fails; a failure is logged and the stream reopened after a growing pause (0.5 s … 30 s);
meanwhile reads go to the database. A database without change streams (a standalone MongoDB) turns the feed
into TTL mode: entries are served for `ttl_seconds` after filling, each after the version lookup.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.database import Database
from pymongo.errors import InvalidOperation, OperationFailure, PyMongoError

from fhir_server.storage.documents import no_change_streams
from fhir_server.storage.version_cache import VersionCache
from fhir_server.type_aliases import Document

log = logging.getLogger(__name__)

FEEDS = "version_cache_feeds"
LEASE_SECONDS = 3.0
_AWAIT_MS = 500
_MIN_PAUSE, _MAX_PAUSE = 0.5, 30.0
_FORGET_FEEDS_AFTER = timedelta(hours=1)

WATCHING, TTL_ONLY, DOWN = "watching", "ttl", "down"

Written = tuple[str, str]  # (collection, version document _id)
# A change event's cluster time (a BSON Timestamp, ordered); opaque here: only compared.
Moment = Any


class ReadMode:
    """How reads may use the cache now: `check` — confirm the version with the database first; `ttl` —
    entries older than this many seconds are not served."""

    __slots__ = ("check", "ttl")

    def __init__(self, check: bool, ttl: float | None) -> None:
        self.check = check
        self.ttl = ttl


_TRUSTED = ReadMode(check=False, ttl=None)
_CHECKED = ReadMode(check=True, ttl=None)


class VersionFeed:
    def __init__(
        self,
        db: Database[Document],
        resource_types: Sequence[str],
        cache: VersionCache,
        *,
        ttl_seconds: float,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.id = uuid.uuid4().hex
        self._db = db
        self._feeds = db.get_collection(FEEDS)
        self._types = set(resource_types)
        self._cache = cache
        self._ttl_mode = ReadMode(check=True, ttl=ttl_seconds)
        self._lease = lease_seconds
        self._margin = lease_seconds / 3
        self._state = DOWN
        self._stopped = threading.Event()
        self._opened = threading.Event()  # set once the stream opened (or the database cannot open one)
        self._changed = threading.Condition()
        # All below guarded by _changed.
        self._valid_until = 0.0  # monotonic: entries served without a version lookup until then
        self._trust_from = 0.0  # monotonic: only heartbeats sent from then on make the feed trusted
        self._applied: Moment | None = None  # cluster time of the last resource event applied
        self._reported: Moment | None = None  # the `seen` last written to our feed document
        self._beat = 0
        self._sent: dict[int, float] = {}  # heartbeat number -> monotonic() before its write was sent
        self._others: dict[str, tuple[Moment | None, float]] = {}  # feed -> (seen, heard at, monotonic)
        self._waiting: dict[Written, Moment | None] = {}  # written by us -> its cluster time, once applied
        self.failures = 0  # streams that failed (logged)
        self.opened_count = 0  # streams opened
        self._watcher = threading.Thread(target=self._watch, name="version-cache-feed", daemon=True)
        self._beater = threading.Thread(target=self._heartbeat, name="version-cache-beat", daemon=True)

    def start(self) -> VersionFeed:
        self._watcher.start()
        self._beater.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with self._changed:
            self._state = DOWN
            self._valid_until = 0.0
            self._changed.notify_all()
        self._cache.clear()
        with contextlib.suppress(PyMongoError):  # others stop waiting for us at once, not after a lease
            self._feeds.delete_one({"_id": self.id})

    @property
    def state(self) -> str:
        return self._state

    def wait_open(self, timeout: float) -> bool:
        return self._opened.wait(timeout)

    def wait_trusted(self, timeout: float) -> bool:
        """Until entries are served without a version lookup (tests, benches)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mode = self.read_mode()
            if mode is not None and not mode.check:
                return True
            time.sleep(0.01)
        return False

    def read_mode(self) -> ReadMode | None:
        """How reads may use the cache now; None: not at all (the stream is down)."""
        state = self._state
        if state == WATCHING:
            return _TRUSTED if time.monotonic() < self._valid_until else _CHECKED
        if state == TTL_ONLY:
            return self._ttl_mode
        return None

    # -- the write fence ----------------------------------------------------------------------------------

    def expect(self, collection: str, doc_id: str) -> Written | None:
        """Before writing a version document: note it, so that `settle` can wait for its event."""
        if self._state != WATCHING:
            return None
        key = (collection, doc_id)
        with self._changed:
            self._waiting[key] = None
        return key

    def forget(self, written: Written | None) -> None:
        """The write failed: nothing to wait for."""
        if written is not None:
            with self._changed:
                self._waiting.pop(written, None)

    def settle(self, written: Sequence[Written | None], timeout: float | None = None) -> bool:
        """After the commit: wait until this feed applied the writes' events and every other live feed
        reported having applied them too. False (logged) when that took longer than `timeout`."""
        keys = [w for w in written if w is not None]
        if not keys:
            return True
        with self._changed:
            if time.monotonic() < self._valid_until and not self._live_others():
                # Alone: our feed is trusted, so it has applied every heartbeat sent up to a lease ago, and
                # a feed registered later trusts its cache only from heartbeats sent after this commit.
                for k in keys:
                    self._waiting.pop(k, None)
                return True
        deadline = time.monotonic() + (timeout if timeout is not None else self._lease + 2.0)
        with self._changed:
            try:
                while any(self._waiting.get(k) is None for k in keys):
                    if self._state != WATCHING or not self._changed.wait(deadline - time.monotonic()):
                        return self._late("its own event", deadline)
                moments = [self._waiting[k] for k in keys]
            finally:
                for k in keys:
                    self._waiting.pop(k, None)
            target = max(m for m in moments if m is not None)
            while True:
                now = time.monotonic()
                pending = [
                    heard
                    for seen, heard in self._others.values()
                    if now - heard < self._lease and (seen is None or seen < target)
                ]
                if not pending:
                    return True
                if now >= deadline or self._state != WATCHING:
                    return self._late("other workers' caches", deadline)
                # Wake when an acknowledgement arrives or the first silent feed's lease runs out.
                self._changed.wait(min(deadline, min(pending) + self._lease) - now)

    def _unreported(self) -> bool:
        # Reported at once only when other feeds' writers may be waiting for it; else with the heartbeat.
        return self._state == WATCHING and self._applied != self._reported and self._live_others()

    def _live_others(self) -> bool:
        now = time.monotonic()
        return any(now - heard < self._lease for _, heard in self._others.values())

    def _late(self, what: str, deadline: float) -> bool:
        if self._state == WATCHING and time.monotonic() >= deadline:
            log.warning("version cache: a write did not see %s forget it in time; answered anyway", what)
        return False

    # -- the stream ---------------------------------------------------------------------------------------

    def _pipeline(self) -> list[Document]:
        return [
            {
                "$match": {
                    "$or": [
                        {"ns.coll": {"$in": sorted(self._types | {FEEDS})}},
                        {"operationType": {"$in": ["dropDatabase", "invalidate"]}},
                    ]
                }
            },
            # Not the resource (fullDocument of an insert): only which version changed, and when.
            {
                "$project": {
                    "operationType": 1,
                    "ns": 1,
                    "documentKey": 1,
                    "clusterTime": 1,
                    "updateDescription": 1,
                }
            },
        ]

    def _watch(self) -> None:
        pause = _MIN_PAUSE
        while not self._stopped.is_set():
            try:
                with self._db.watch(self._pipeline(), max_await_time_ms=_AWAIT_MS) as stream:
                    self._opened_stream()
                    pause = _MIN_PAUSE
                    while not self._stopped.is_set() and stream.alive:
                        event = stream.try_next()
                        if event is not None:
                            self.apply(event)
                self._down()  # the stream ended (invalidated): reopen at once
            except InvalidOperation:
                self._down()  # the client was closed: the process is shutting down
                return
            except OperationFailure as exc:
                if no_change_streams(exc):
                    log.info(
                        "version cache: this database has no change streams (%s); cached versions are "
                        "served for %.1f s after filling, each confirmed by a version lookup",
                        exc,
                        self._ttl_mode.ttl,
                    )
                    self._cache.clear()
                    self._state = TTL_ONLY
                    self._opened.set()
                    return
                pause = self._failed(exc, pause)
            except Exception as exc:  # never let the thread die with the cache still in use
                pause = self._failed(exc, pause)
        self._down()

    def _opened_stream(self) -> None:
        self._cache.clear()  # filled before the stream opened: may have missed events
        # Feeds alive before ours opened are waited for from now on (their next heartbeat confirms them).
        others: dict[str, tuple[Moment | None, float]] = {}
        now = datetime.now(UTC)
        for doc in self._feeds.find({}):
            beat = doc.get("hb")
            if doc["_id"] == self.id or not isinstance(beat, datetime):
                continue
            beat = beat if beat.tzinfo is not None else beat.replace(tzinfo=UTC)
            if now - beat > _FORGET_FEEDS_AFTER:
                self._feeds.delete_one({"_id": doc["_id"], "hb": doc["hb"]})
            elif now - beat < timedelta(seconds=2 * self._lease):
                others[doc["_id"]] = (doc.get("seen"), time.monotonic())
        with self._changed:
            self._others = others
            self._valid_until = 0.0
            # Writers that do not know of us yet (our first heartbeat may not have reached them) do not
            # wait for us: trust only heartbeats sent once a lease passed, which every live feed has seen.
            self._trust_from = time.monotonic() + self._lease
            self._sent.clear()
            self._state = WATCHING
            self.opened_count += 1
            self._changed.notify_all()  # the heartbeat thread starts the lease at once
        self._opened.set()

    def _down(self) -> None:
        with self._changed:
            self._state = DOWN
            self._valid_until = 0.0
            self._changed.notify_all()
        self._cache.clear()

    def _failed(self, exc: BaseException, pause: float) -> float:
        self._down()
        self.failures += 1
        if self._stopped.is_set():
            return pause
        log.warning("version cache: change stream failed (%s); cache bypassed, reopen in %.1f s", exc, pause)
        self._stopped.wait(pause)
        return min(pause * 2, _MAX_PAUSE)

    def apply(self, event: Mapping[str, Any]) -> None:
        operation = event.get("operationType")
        collection = (event.get("ns") or {}).get("coll")
        key = (event.get("documentKey") or {}).get("_id")
        if collection == FEEDS:
            self._feed_changed(operation, key, (event.get("updateDescription") or {}).get("updatedFields"))
            return
        if operation in ("insert", "update", "replace", "delete") and collection in self._types:
            resource_id, _, version = key.rpartition("/") if isinstance(key, str) else ("", "", "")
            if not resource_id or not version.isdigit():
                self._cache.discard_type(collection)
            else:
                changed = int(version)
                # An insert of version n makes versions below n stale; any other change to version n
                # changes version n itself.
                stale_up_to = changed - 1 if operation == "insert" else changed
                self._cache.discard(collection, resource_id, stale_up_to)
        elif operation == "drop" and collection in self._types:
            self._cache.discard_type(collection)
        else:
            self._cache.clear()  # rename, dropDatabase, invalidate, anything unexpected
        moment = event.get("clusterTime")
        with self._changed:
            if moment is not None:
                self._applied = moment
                written = (collection, key)
                if written in self._waiting:
                    self._waiting[written] = moment
            self._changed.notify_all()

    def _feed_changed(self, operation: Any, feed: Any, fields: Mapping[str, Any] | None) -> None:
        with self._changed:
            if feed == self.id:
                number = (fields or {}).get("n")
                if isinstance(number, int) and number in self._sent:
                    # Every event before this heartbeat is applied: trusted until a lease after it was sent.
                    sent = self._sent.pop(number)
                    for older in [n for n in self._sent if n < number]:
                        del self._sent[older]
                    if sent >= self._trust_from:
                        self._valid_until = max(self._valid_until, sent + self._lease - self._margin)
                return
            if operation == "delete":
                self._others.pop(feed, None)
            else:
                previous = self._others.get(feed)
                seen = (fields or {}).get("seen", previous[0] if previous else None)
                self._others[feed] = (seen, time.monotonic())
            self._changed.notify_all()

    # -- our feed document --------------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        registered = False
        while not self._stopped.is_set():
            with self._changed:
                self._changed.wait_for(
                    lambda: self._stopped.is_set() or self._unreported(),
                    timeout=self._lease / 4,
                )
                if self._stopped.is_set():
                    return
                if self._state != WATCHING:
                    continue
                seen = self._applied
                self._beat += 1
                number = self._beat
                self._sent[number] = time.monotonic()
            try:
                if not registered:  # an insert first: heartbeats are then updates naming their fields
                    self._feeds.update_one({"_id": self.id}, {"$setOnInsert": {"n": 0}}, upsert=True)
                    registered = True
                self._feeds.update_one(
                    {"_id": self.id},
                    {"$set": {"seen": seen, "n": number}, "$currentDate": {"hb": True}},
                )
                with self._changed:
                    self._reported = seen
            except InvalidOperation:
                return  # the client was closed
            except PyMongoError as exc:
                if not self._stopped.is_set():
                    log.warning("version cache: heartbeat failed (%s); cached reads are checked", exc)
                    self._stopped.wait(self._lease / 4)
