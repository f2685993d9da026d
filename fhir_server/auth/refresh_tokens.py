"""Refresh tokens (App Launch 2.2 §refresh-access-token): opaque, stored as digests, bound to their client,
granted with `offline_access` (long-lived) or `online_access` (one working day). They are not rotated: a
refresh returns a new access token and the client keeps its refresh token, whose scope never changes
(RFC 6749 §6). The access tokens issued from one are remembered so that revoking it revokes them too
(RFC 7009 §2.1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.database import Database

from fhir_server.auth.expiring import digest, ensure_ttl, expires_in, now
from fhir_server.auth.principal import Principal

ONLINE_ACCESS_SECONDS = 8 * 3600


@dataclass(frozen=True)
class RefreshToken:
    digest: str
    client_id: str
    scope: str
    principal: Principal
    expires: datetime
    revoked: bool

    def check_client(self, client: Any) -> bool:
        return bool(client is not None and client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.expires <= now()

    def is_revoked(self) -> bool:
        return self.revoked


class RefreshTokens:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._tokens = db.get_collection("auth_refresh_tokens")

    def ensure_indexes(self) -> None:
        ensure_ttl(self._tokens)

    def save(
        self, token: str, client_id: str, scope: str, principal: Principal, lifetime_seconds: float
    ) -> str:
        key = digest(token)
        self._tokens.insert_one(
            {
                "_id": key,
                "client_id": client_id,
                "scope": scope,
                "principal": principal.to_doc(),
                "expires": expires_in(lifetime_seconds),
                "revoked": False,
                "issued": [],
            }
        )
        return key

    def find(self, token: str) -> RefreshToken | None:
        doc = self._tokens.find_one({"_id": digest(token)})
        if doc is None:
            return None
        return RefreshToken(
            digest=doc["_id"],
            client_id=doc["client_id"],
            scope=doc["scope"],
            principal=Principal.from_doc(doc["principal"]),
            expires=doc["expires"],
            revoked=bool(doc["revoked"]),
        )

    def remember_access_token(self, key: str, jti: str, exp: int) -> None:
        self._tokens.update_one({"_id": key}, {"$push": {"issued": {"jti": jti, "exp": exp}}})

    def revoke(self, key: str) -> list[tuple[str, int]]:
        """Revoke; returns the (jti, exp) of the access tokens issued from it, for revoking those too."""
        doc = self._tokens.find_one_and_update({"_id": key}, {"$set": {"revoked": True}})
        if doc is None:
            return []
        return [(i["jti"], i["exp"]) for i in doc.get("issued", [])]
