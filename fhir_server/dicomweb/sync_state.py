"""Per-hospital sync progress in the Mongo collection `sync_state`: the Orthanc change cursor, the outcome
of the last pass, and a lease so that the server's background loop and a CLI `sync` never run one hospital
at the same time.

The cursor only moves after a page of changes was fully applied, so an interrupted pass (Orthanc down,
process killed) is resumed by the next one; re-applying a change is harmless (writes are idempotent).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

COLLECTION = "sync_state"
LEASE = timedelta(minutes=10)

Document = dict[str, Any]


@dataclass(frozen=True)
class HospitalSyncState:
    cursor: int | None
    last_completed_at: datetime | None
    last_error: str | None


class SyncStateStore:
    def __init__(self, db: Database[Document]) -> None:
        self._collection: Collection[Document] = db.get_collection(COLLECTION)
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def get(self, organization_id: str) -> HospitalSyncState:
        doc = self._collection.find_one({"_id": organization_id}) or {}
        return HospitalSyncState(doc.get("cursor"), doc.get("last_completed_at"), doc.get("last_error"))

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
        except DuplicateKeyError:
            # The upsert tried to insert because the filter did not match: the document exists, leased.
            return False
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
        self._collection.update_one(
            {"_id": organization_id},
            {"$set": {"last_completed_at": datetime.now(UTC), "last_error": None}},
            upsert=True,
        )

    def failed(self, organization_id: str, error: str) -> None:
        self._collection.update_one(
            {"_id": organization_id},
            {"$set": {"last_failed_at": datetime.now(UTC), "last_error": error}},
            upsert=True,
        )
