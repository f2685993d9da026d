"""Client assertion `jti`s already used (App Launch 2.2 backend services §authenticating: "the authorization
server SHALL ... check that the jti value has not been previously encountered for the given iss")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from fhir_server.auth.expiring import ensure_ttl


class AssertionReplay:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._seen = db.get_collection("auth_assertions")

    def ensure_indexes(self) -> None:
        ensure_ttl(self._seen)

    def first_use(self, issuer: str, jti: str, exp: int, leeway: int) -> bool:
        """Record the jti; False if it was seen before. Kept past `exp` for the leeway the check allows."""
        expires = datetime.fromtimestamp(exp, UTC) + timedelta(seconds=leeway + 1)
        try:
            self._seen.insert_one({"_id": f"{issuer}\n{jti}", "expires": expires})
        except DuplicateKeyError:
            return False
        return True
