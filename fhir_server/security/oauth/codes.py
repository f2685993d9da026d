"""Authorization codes (RFC 6749 §4.1.2): single use, 60 seconds, bound to client, redirect URI, PKCE
challenge and the granted scope and launch context. A code presented twice is refused, and the tokens
issued for it are revoked (RFC 6749 §4.1.2, "SHOULD revoke"). A code also keeps the revocation generations
of its user and client (revocation.py): one that predates a deletion or disabling of either is refused."""

from __future__ import annotations

from dataclasses import dataclass, field

from authlib.oidc.core import AuthorizationCodeMixin

from fhir_server.security.enforcement.principal import Principal
from fhir_server.security.oauth.expiring import digest, expires_in, now
from fhir_server.security.oauth.revocation import Generations
from fhir_server.storage.documents import Documents

CODE_LIFETIME_SECONDS = 60
# A replayed code must still be recognised (to revoke its tokens) after it expired.
_RECORD_LIFETIME_SECONDS = 3600


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    client_id: str
    redirect_uri: str
    scope: str
    principal: Principal
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    generations: Generations = field(default_factory=Generations)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.principal.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


@dataclass(frozen=True)
class IssuedFromCode:
    access_jti: str | None
    access_exp: int | None
    refresh_digest: str | None


class AuthorizationCodes:
    def __init__(self, documents: Documents) -> None:
        self._codes = documents.collection("auth_codes")

    def save(self, code: str, record: AuthorizationCode) -> None:
        self._codes.insert_one(
            {
                "_id": digest(code),
                "client_id": record.client_id,
                "redirect_uri": record.redirect_uri,
                "scope": record.scope,
                "principal": record.principal.to_doc(),
                "code_challenge": record.code_challenge,
                "code_challenge_method": record.code_challenge_method,
                "nonce": record.nonce,
                "generations": record.generations.to_doc(),
                "valid_until": expires_in(CODE_LIFETIME_SECONDS),
                "expires": expires_in(_RECORD_LIFETIME_SECONDS),
                "used": False,
            }
        )

    def consume(self, code: str, client_id: str) -> AuthorizationCode | None:
        """The code's grant, marking it used in the same atomic step; None if unknown, expired or used."""
        query = {"_id": digest(code), "client_id": client_id, "used": False, "valid_until": {"$gt": now()}}
        doc = self._codes.find_one_and_update(query, {"$set": {"used": True}})
        if doc is None:
            return None
        return AuthorizationCode(
            client_id=doc["client_id"],
            redirect_uri=doc["redirect_uri"],
            scope=doc["scope"],
            principal=Principal.from_doc(doc["principal"]),
            code_challenge=doc["code_challenge"],
            code_challenge_method=doc["code_challenge_method"],
            nonce=doc.get("nonce"),
            generations=Generations.from_doc(doc.get("generations")),
        )

    def replayed(self, code: str) -> IssuedFromCode | None:
        """What was issued for a code that is presented again after its first use."""
        doc = self._codes.find_one({"_id": digest(code), "used": True})
        if doc is None:
            return None
        return IssuedFromCode(doc.get("access_jti"), doc.get("access_exp"), doc.get("refresh_digest"))

    def record_issued(self, code: str, jti: str, exp: int, refresh_digest: str | None) -> None:
        self._codes.update_one(
            {"_id": digest(code)},
            {"$set": {"access_jti": jti, "access_exp": exp, "refresh_digest": refresh_digest}},
        )

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        return self._codes.find_one({"client_id": client_id, "nonce": nonce}, {"_id": 1}) is not None
