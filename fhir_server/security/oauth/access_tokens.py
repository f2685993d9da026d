"""Access tokens: signed JWTs (RFC 9068 shape) minted by the token endpoint and `fhir-server token`, and
verified by the resource server on every request (App Launch 2.2 §access-token-response, RFC 6750).

Claims: iss (our authorization server), aud (the FHIR base), sub, client_id, scope, iat, exp, jti, the
launch context (`patient`), `fhirUser` and `role` of the user behind it, and the revocation generations of
its user and client (`sub_gen`, `client_gen`, see revocation.py).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from fhir_server.security.enforcement.policy import ROLES, AccessContext
from fhir_server.security.enforcement.scopes import ScopeSet
from fhir_server.security.oauth.revocation import Generations, Revocations
from fhir_server.security.oauth.signing_keys import SIGNING_ALGORITHM, KeyStore
from fhir_server.security.oauth.token_cache import VerifiedTokenCache, has_expired
from fhir_server.security.oauth.urls import Urls


class InvalidToken(Exception):
    """The bearer token is not one this server accepts; the message says why (for error_description)."""


@dataclass(frozen=True)
class Grant:
    """What a token is about: who, which client, which scopes, which launch context."""

    subject: str
    scope: str
    client_id: str | None = None
    patient: str | None = None
    fhir_user: str | None = None
    role: str | None = None
    # Read from Revocations.current() before the user and client were checked to be active; None for tokens
    # of no registered user or client (SMART Health Links), which count as generation 0.
    generations: Generations | None = None


def mint_access_token(keys: KeyStore, urls: Urls, grant: Grant, lifetime: int) -> tuple[str, dict[str, Any]]:
    signing = keys.signing_key()
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": urls.issuer,
        "aud": urls.fhir_base,
        "sub": grant.subject,
        "scope": grant.scope,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(24),
    }
    optional = {
        "client_id": grant.client_id,
        "patient": grant.patient,
        "fhirUser": grant.fhir_user,
        "role": grant.role,
    }
    claims.update({k: v for k, v in optional.items() if v})
    if grant.generations is not None:
        claims.update(grant.generations.claims())
    header = {"alg": SIGNING_ALGORITHM, "kid": signing.kid, "typ": "at+jwt"}
    return jwt.encode(header, claims, signing.key, algorithms=[SIGNING_ALGORITHM]), claims


class TokenVerifier:
    """With a `cache` (token_cache.py), a token verified once is answered from it until it expires or is
    revoked; without, every verification reads the revocation records."""

    def __init__(
        self, keys: KeyStore, revocations: Revocations, cache: VerifiedTokenCache | None = None
    ) -> None:
        self._keys = keys
        self._revocations = revocations
        self.cache = cache

    def signed_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this server signed (expired or not), or None."""
        signed = self._signed(token)
        return None if signed is None else signed[1]

    def cached(self, token: str, urls: Urls) -> AccessContext | None:
        """The token's access when it was verified before and is neither expired nor revoked since; no I/O."""
        return None if self.cache is None else self.cache.get(token, urls.fhir_base)

    def _signed(self, token: str) -> tuple[str | None, dict[str, Any]] | None:
        """(kid, claims) of a token this server signed (expired or not), or None."""
        try:
            kid = jws.extract_compact(token.encode()).headers().get("kid")
        except (JoseError, ValueError):
            return None
        try:
            decoded = jwt.decode(token, self._keys.verification_keys(kid), algorithms=[SIGNING_ALGORITHM])
        except (JoseError, ValueError):
            return None
        if decoded.header.get("typ") != "at+jwt":
            return None  # an id_token is signed with the same key but is no access token
        return (kid if isinstance(kid, str) else None), dict(decoded.claims)

    def verify(self, token: str, urls: Urls) -> AccessContext:
        access = self.cached(token, urls)
        if access is not None:
            return access
        ticket = None if self.cache is None else self.cache.ticket()  # before the revocation lookup
        signed = self._signed(token)
        if signed is None:
            raise InvalidToken("The access token is malformed or its signature is not ours")
        kid, claims = signed
        now = time.time()
        exp = claims.get("exp")
        if not isinstance(exp, int) or has_expired(exp, now):
            raise InvalidToken("The access token has expired")
        if not urls.is_fhir_base(claims.get("aud")):
            raise InvalidToken("The access token is for another audience (aud is not this FHIR base URL)")
        if claims.get("iss") != urls.issuer:
            raise InvalidToken("The access token was issued by another authorization server")
        # The one database read of an uncached token: its jti and the generations of its user and client.
        if self._revocations.token_revoked(claims):
            raise InvalidToken("The access token has been revoked")
        access = access_context(claims, urls)
        if self.cache is not None:
            self.cache.put(token, ticket, access, kid)
        return access


def access_context(claims: dict[str, Any], urls: Urls) -> AccessContext:
    role = claims.get("role")
    generations = Generations.from_claims(claims)
    return AccessContext(
        subject=str(claims.get("sub")),
        scopes=ScopeSet.parse(claims.get("scope") if isinstance(claims.get("scope"), str) else ""),
        base_url=urls.fhir_base,
        client_id=claims.get("client_id"),
        patient=claims.get("patient"),
        fhir_user=claims.get("fhirUser"),
        role=role if role in ROLES else None,
        token_id=claims.get("jti"),
        expires_at=claims.get("exp"),
        user_generation=generations.user,
        client_generation=generations.client,
    )
