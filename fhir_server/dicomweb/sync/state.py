"""Per-hospital sync progress in the Mongo collection `sync_state`: the Orthanc change cursor, the outcome
of the last pass (and how many passes in a row failed, since when: the background loop backs off on them and
the dashboard says how fresh a hospital's data is), and a lease so that the server's background loop, "Sync
now" and a CLI `sync` never run one hospital at the same time.

The cursor only moves after a page of changes was fully applied, so an interrupted pass (Orthanc down,
process killed) is resumed by the next one; re-applying a change is harmless (writes are idempotent).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_server.params import instant
from fhir_server.storage.documents import Documents
from fhir_server.storage.errors import DuplicateKey

COLLECTION = "sync_state"
LEASE = timedelta(minutes=10)
_LEASE_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class HospitalSyncState:
    cursor: int | None
    last_completed_at: datetime | None
    last_error: str | None
    last_attempt_at: datetime | None = None
    failures: int = 0  # passes in a row that failed (0 after a completed one)
    failing_since: datetime | None = None  # first failure of the current run of failures

    def to_json(self) -> dict[str, Any]:
        return {
            "lastSync": instant(self.last_completed_at),
            "lastSyncError": self.last_error,
            "lastAttempt": instant(self.last_attempt_at),
            "consecutiveFailures": self.failures,
            "failingSince": instant(self.failing_since),
        }


class SyncStateStore:
    def __init__(self, documents: Documents) -> None:
        self._collection = documents.collection(COLLECTION)
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def get(self, organization_id: str) -> HospitalSyncState:
        doc = self._collection.find_one({"_id": organization_id}) or {}
        return HospitalSyncState(
            doc.get("cursor"),
            doc.get("last_completed_at"),
            doc.get("last_error"),
            doc.get("last_attempt_at"),
            int(doc.get("failures") or 0),
            doc.get("failing_since"),
        )

    def acquire(self, organization_id: str) -> bool:
        """Take the hospital's lease; False when another live pass holds it."""
        now = datetime.now(UTC)
        free = {"$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}, {"lease_owner": self._owner}]}
        try:
            self._collection.update_one(
                {"_id": organization_id, **free},
                {"$set": {"lease_owner": self._owner, "lease_until": now + LEASE}},
                upsert=True,
            )
        except DuplicateKey:
            # The upsert tried to insert because the filter did not match: the document exists, leased.
            return False
        return True

    def acquire_within(
        self, organization_id: str, seconds: float, stop: threading.Event | None = None
    ) -> bool:
        """Take the lease, waiting up to `seconds` for a running pass (background loop, CLI) to end."""
        deadline = time.monotonic() + seconds
        while not self.acquire(organization_id):
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                return False
            time.sleep(_LEASE_POLL_SECONDS)
        return True

    def renew(self, organization_id: str) -> None:
        self._collection.update_one(
            {"_id": organization_id, "lease_owner": self._owner},
            {"$set": {"lease_until": datetime.now(UTC) + LEASE}},
        )

    def release(self, organization_id: str) -> None:
        self._collection.update_one(
            {"_id": organization_id, "lease_owner": self._owner},
            {"$set": {"lease_owner": None, "lease_until": None}},
        )

    def advance(self, organization_id: str, cursor: int) -> None:
        self._collection.update_one({"_id": organization_id}, {"$set": {"cursor": cursor}}, upsert=True)

    def completed(self, organization_id: str) -> None:
        now = datetime.now(UTC)
        self._collection.update_one(
            {"_id": organization_id},
            {
                "$set": {
                    "last_completed_at": now,
                    "last_attempt_at": now,
                    "last_error": None,
                    "failures": 0,
                    "failing_since": None,
                }
            },
            upsert=True,
        )

    def failed(self, organization_id: str, error: str) -> None:
        now = datetime.now(UTC)
        self._collection.update_one(
            {"_id": organization_id},
            {
                "$set": {"last_failed_at": now, "last_attempt_at": now, "last_error": error},
                "$inc": {"failures": 1},
            },
            upsert=True,
        )
        # Only the first failure of a run starts it: "unreachable since" is when it stopped working.
        self._collection.update_one(
            {"_id": organization_id, "failing_since": None}, {"$set": {"failing_since": now}}
        )
