"""Serializing conditional writes that use the same criteria.

Search-then-write is not atomic, so two concurrent `If-None-Exist: identifier=X` creates could both see no
match and both create. Each conditional write therefore first inserts a lock document whose `_id` is the
hash of (type, normalized criteria) into `search_locks`; the unique `_id` makes the insert the mutual
exclusion, and the holder re-runs the search inside the lock. A lock carries an expiry, so a holder that
crashed blocks others only until then (a TTL index, fhir_server.storage.schema, also sweeps expired locks on
servers that run TTL).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fhir_server.errors import FhirError, Problem
from fhir_server.storage.documents import DocumentCollection
from fhir_server.storage.errors import DuplicateKey

COLLECTION = "search_locks"
_POLL_SECONDS = 0.01


def criteria_key(resource_type: str, criteria: Sequence[tuple[str, str]]) -> str:
    normalized = urlencode(sorted(criteria))
    return hashlib.sha256(f"{resource_type}?{normalized}".encode()).hexdigest()


class CriteriaLock:
    def __init__(self, collection: DocumentCollection, expiry_seconds: float) -> None:
        self._collection = collection
        self._expiry = timedelta(seconds=expiry_seconds)

    @contextmanager
    def hold(self, resource_type: str, criteria: Sequence[tuple[str, str]]) -> Iterator[None]:
        key = criteria_key(resource_type, criteria)
        owner = uuid.uuid4().hex
        self._acquire(key, owner, resource_type)
        try:
            yield
        finally:
            self._collection.delete_one({"_id": key, "owner": owner})

    def _acquire(self, key: str, owner: str, resource_type: str) -> None:
        deadline = time.monotonic() + self._expiry.total_seconds()
        delay = _POLL_SECONDS
        while True:
            now = datetime.now(UTC)
            try:
                self._collection.insert_one({"_id": key, "owner": owner, "expires": now + self._expiry})
                return
            except DuplicateKey:
                # An expired lock belongs to a holder that died; taking it over is safe.
                if self._collection.delete_one({"_id": key, "expires": {"$lt": now}}):
                    continue
            if time.monotonic() > deadline:
                raise FhirError(
                    Problem.CONFLICT,
                    f"Another conditional write on {resource_type} with these criteria is running; retry",
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
