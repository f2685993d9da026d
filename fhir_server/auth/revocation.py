"""Revoked access tokens (RFC 7009): their `jti`, kept until the token would have expired anyway."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from fhir_server.auth.expiring import ensure_ttl


class Revocations:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._revoked = db.get_collection("auth_revoked")

    def ensure_indexes(self) -> None:
        ensure_ttl(self._revoked)

    def revoke(self, jti: str, exp: int) -> None:
        with contextlib.suppress(DuplicateKeyError):  # revoking twice is fine
            self._revoked.insert_one({"_id": jti, "expires": datetime.fromtimestamp(exp, UTC)})

    def is_revoked(self, jti: str) -> bool:
        return self._revoked.find_one({"_id": jti}, {"_id": 1}) is not None
