"""The current-version cache: (resource type, id) → the current version and its serialized JSON.

Bounded twice (`FHIR_VERSION_CACHE_ENTRIES`, `FHIR_VERSION_CACHE_BYTES`), least recently used out first; a
version larger than the byte bound is not kept. Filled by `MongoRepository` on read and on write, emptied
entry by entry by the change feed (`fhir_server.storage.change_feed`) and as a whole when the feed fails.

An entry holds the version's JSON bytes, never the parsed resource: every hit parses its own copy, so no
caller can change what the next caller gets; the bytes themselves are served as the response body.

A fill races with invalidation: a reader may fetch version 3 from the database, the change feed then
apply the event of version 4 (nothing cached yet), and the reader store version 3 afterwards. So a filler
takes `mark()` before it reads (or writes), and `put(…, since=mark)` refuses the entry when an event applied
after the mark made that version stale: the cache remembers, for the most recently invalidated keys, the
last event's generation and the highest version events declared stale (keys beyond that memory, and a
whole-cache clear, refuse every fill that started before).

Exactness does not rest on this module alone: `MongoRepository.read` serves an entry only after a covered
index lookup confirmed it is still the current version (see `fhir_server.storage.mongo`), and only while the
change feed is healthy (or, on a database without change streams, while the entry is younger than the TTL).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from fhir_server.storage.repository import Method

# What an entry costs besides its JSON: the key, the entry object, the dict slot (an estimate, on the high
# side, so that the byte bound is a bound on memory, not just on bodies).
ENTRY_OVERHEAD = 256


@dataclass(frozen=True, slots=True)
class CachedVersion:
    version: int
    last_updated: datetime
    deleted: bool
    method: Method
    json: bytes | None  # None for a deletion
    stored_at: float  # time.monotonic() when filled

    @property
    def size(self) -> int:
        return ENTRY_OVERHEAD + (len(self.json) if self.json is not None else 0)


Key = tuple[str, str]


class VersionCache:
    """Thread-safe LRU of current versions; all operations are O(1) under one lock."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, CachedVersion] = OrderedDict()
        self._bytes = 0
        self._generation = 0  # counts invalidations
        # key -> (generation of its last invalidation, highest version invalidated), most recent last
        self._invalidated: OrderedDict[Key, tuple[int, int]] = OrderedDict()
        self._max_invalidated = max(4096, max_entries)
        self._unknown_before = 0  # fills that started before this generation are refused
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    def get(self, resource_type: str, resource_id: str) -> CachedVersion | None:
        key = (resource_type, resource_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def mark(self) -> int:
        """Taken before reading (or writing) what will be `put`."""
        with self._lock:
            return self._generation

    def put(self, resource_type: str, resource_id: str, entry: CachedVersion, since: int) -> None:
        """Keep `entry` unless an invalidation since the `since` mark made it stale, or a newer version is
        already kept (a slower reader never moves it back)."""
        if not self.enabled or entry.size > self.max_bytes:
            return
        key = (resource_type, resource_id)
        with self._lock:
            if since < self._unknown_before:
                return
            invalidated = self._invalidated.get(key)
            if invalidated is not None and invalidated[0] > since and invalidated[1] >= entry.version:
                return
            old = self._entries.get(key)
            if old is not None:
                if old.version > entry.version:
                    return
                self._bytes -= old.size
            self._entries[key] = entry
            self._entries.move_to_end(key)
            self._bytes += entry.size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.size

    def discard(self, resource_type: str, resource_id: str, up_to_version: int | None = None) -> None:
        """Versions up to `up_to_version` (None: all) of a resource are stale: forget them, and refuse them
        from fills that started before."""
        key = (resource_type, resource_id)
        stale = up_to_version if up_to_version is not None else 2**62
        with self._lock:
            self._generation += 1
            previous = self._invalidated.pop(key, None)
            self._invalidated[key] = (self._generation, max(stale, previous[1] if previous else 0))
            if len(self._invalidated) > self._max_invalidated:
                _, (generation, _) = self._invalidated.popitem(last=False)
                self._unknown_before = max(self._unknown_before, generation)
            old = self._entries.get(key)
            if old is None or old.version > stale:
                return
            del self._entries[key]
            self._bytes -= old.size

    def discard_type(self, resource_type: str) -> None:
        with self._lock:
            self._generation += 1
            self._unknown_before = self._generation
            for key in [k for k in self._entries if k[0] == resource_type]:
                self._bytes -= self._entries.pop(key).size

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._unknown_before = self._generation
            self._entries.clear()
            self._bytes = 0


def fresh(entry: CachedVersion, ttl_seconds: float | None) -> bool:
    return ttl_seconds is None or time.monotonic() - entry.stored_at < ttl_seconds
