"""Client assertion `jti`s already used (App Launch 2.2 backend services §authenticating: "the authorization
server SHALL ... check that the jti value has not been previously encountered for the given iss")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fhir_server.storage.documents import Documents
from fhir_server.storage.errors import DuplicateKey


class AssertionReplay:
    def __init__(self, documents: Documents) -> None:
        self._seen = documents.collection("auth_assertions")  # unique by _id; expiry index

    def first_use(self, issuer: str, jti: str, exp: int, leeway: int) -> bool:
        """Record the jti; False if it was seen before. Kept past `exp` for the leeway the check allows."""
        expires = datetime.fromtimestamp(exp, UTC) + timedelta(seconds=leeway + 1)
        try:
            self._seen.insert_one({"_id": f"{issuer}\n{jti}", "expires": expires})
        except DuplicateKey:
            return False
        return True
