"""Refresh tokens (App Launch 2.2 §refresh-access-token): opaque, stored as digests, bound to their client,
granted with `offline_access` (long-lived) or `online_access` (one working day).

They rotate (RFC 9700 §4.14.2): each refresh spends the presented token and returns a new one of the same
grant (its "family"), with the grant's scope (RFC 6749 §6) and expiry, so rotating never extends a grant.
Spending is one conditional update, so of two parallel refreshes with the same token at most one succeeds.
Presenting a token that was already spent means that two parties hold it (one of them stole it): the whole
family is revoked, with every access token issued from it. Revoking any token of a family (RFC 7009 §2.1)
revokes the family too.

Each token also keeps the revocation generations of its user and client (revocation.py), so that deleting
or disabling either revokes it, and re-creating or re-enabling does not revive it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fhir_server.security.enforcement.principal import Principal
from fhir_server.security.oauth.expiring import digest, expires_in, now
from fhir_server.security.oauth.revocation import Generations
from fhir_server.storage.documents import Documents

ONLINE_ACCESS_SECONDS = 8 * 3600


@dataclass(frozen=True)
class RefreshToken:
    digest: str
    client_id: str
    scope: str
    principal: Principal
    expires: datetime
    revoked: bool
    family: str  # the digest of the grant's first refresh token
    used: bool = False  # spent by a refresh (rotated)
    generations: Generations = field(default_factory=Generations)

    def check_client(self, client: Any) -> bool:
        return bool(client is not None and client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.expires <= now()

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass(frozen=True)
class Issued:
    """An access token minted together with a refresh token (revoked with its family)."""

    jti: str
    exp: int


class RefreshTokens:
    def __init__(self, documents: Documents) -> None:
        self._tokens = documents.collection("auth_refresh_tokens")

    def save(
        self,
        token: str,
        client_id: str,
        scope: str,
        principal: Principal,
        lifetime_seconds: float,
        generations: Generations,
        issued: Issued,
    ) -> str:
        """A new grant's first refresh token; the access token minted with it is stored along (not added
        afterwards), so that no moment exists where the token is in the family but its access token is not."""
        key = digest(token)
        self._insert(key, key, client_id, scope, principal, expires_in(lifetime_seconds), generations, issued)
        return key

    def rotate(self, spent: RefreshToken, token: str, generations: Generations, issued: Issued) -> str:
        """The successor of a refresh token just spent: same family, client, scope, user and expiry."""
        key = digest(token)
        self._insert(
            key,
            spent.family,
            spent.client_id,
            spent.scope,
            spent.principal,
            spent.expires,
            generations,
            issued,
        )
        # The family may have been revoked (a reuse of an older token) after this refresh spent its token and
        # before the insert above, in which case the revocation did not see the new token. Checking after the
        # insert closes that gap: either the revocation's update matched the new token, or this check sees it.
        if self._tokens.find_one({"family": spent.family, "revoked": True}, {"_id": 1}) is not None:
            self._tokens.update_one({"_id": key}, {"$set": {"revoked": True}})
            raise FamilyRevoked([issued])
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
            family=doc.get("family") or doc["_id"],  # tokens from before rotation are their own family
            used=bool(doc.get("used")),
            generations=Generations.from_doc(doc.get("generations")),
        )

    def spend(self, key: str) -> bool:
        """Mark a live, unspent token spent; False if it was not (already spent, revoked or expired). One
        atomic conditional update: of any number of parallel refreshes with one token, one gets True."""
        query = {"_id": key, "used": {"$ne": True}, "revoked": False, "expires": {"$gt": now()}}
        return self._tokens.find_one_and_update(query, {"$set": {"used": True}}, {"_id": 1}) is not None

    def was_spent(self, key: str) -> bool:
        return self._tokens.find_one({"_id": key, "used": True}, {"_id": 1}) is not None

    def remember_access_token(self, key: str, jti: str, exp: int) -> None:
        self._tokens.update_one({"_id": key}, {"$push": {"issued": {"jti": jti, "exp": exp}}})

    def revoke(self, key: str) -> list[Issued]:
        """Revoke this token's family; returns the access tokens issued from it, for revoking those too."""
        doc = self._tokens.find_one({"_id": key}, {"family": 1})
        if doc is None:
            return []
        return self.revoke_family(doc.get("family") or doc["_id"])

    def revoke_family(self, family: str) -> list[Issued]:
        members = {"$or": [{"family": family}, {"_id": family}]}
        self._tokens.update_many(members, {"$set": {"revoked": True}})
        # Read after the update: a token rotated into the family meanwhile is either revoked by it (and its
        # access token listed here) or sees the revocation itself (RefreshTokens.rotate).
        return [
            Issued(i["jti"], int(i["exp"]))
            for doc in self._tokens.find(members, {"issued": 1})
            for i in doc.get("issued", [])
        ]

    def _insert(
        self,
        key: str,
        family: str,
        client_id: str,
        scope: str,
        principal: Principal,
        expires: datetime,
        generations: Generations,
        issued: Issued,
    ) -> None:
        self._tokens.insert_one(
            {
                "_id": key,
                "family": family,
                "client_id": client_id,
                "scope": scope,
                "principal": principal.to_doc(),
                "expires": expires,
                "revoked": False,
                "used": False,
                "generations": generations.to_doc(),
                "issued": [{"jti": issued.jti, "exp": issued.exp}],
            }
        )


class FamilyRevoked(Exception):
    """A refresh raced with the revocation of its family; the access tokens listed must be revoked too."""

    def __init__(self, issued: list[Issued]) -> None:
        super().__init__("the refresh token's grant has been revoked")
        self.issued = issued
