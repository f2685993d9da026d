"""A token this server issued, as introspection (RFC 7662) and revocation (RFC 7009) see it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from fhir_server.security.components import AuthComponents
from fhir_server.security.enforcement.scopes import FHIR_USER, OPENID, ScopeSet
from fhir_server.security.oauth.urls import Urls


@dataclass(frozen=True)
class IssuedToken:
    kind: Literal["access_token", "refresh_token"]
    client_id: str | None
    scope: str
    exp: int
    subject: str
    revoked: bool
    claims: dict[str, Any]  # patient, fhirUser, iat, jti … (access tokens)
    refresh_key: str | None = None

    def check_client(self, client: Any) -> bool:
        return client is not None and client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.exp <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked

    def introspection(self, urls: Urls) -> dict[str, Any]:
        """App Launch 2.2 §token-introspection: active, scope, client_id, exp, the launch context, and
        iss/sub/fhirUser when an id_token was issued (openid + fhirUser granted)."""
        out: dict[str, Any] = {
            "active": True,
            "scope": self.scope,
            "client_id": self.client_id,
            "exp": self.exp,
            "token_type": "Bearer" if self.kind == "access_token" else "refresh_token",
            "aud": urls.fhir_base,
        }
        for claim in ("iat", "patient"):
            if self.claims.get(claim) is not None:
                out[claim] = self.claims[claim]
        scopes = ScopeSet.parse(self.scope)
        out["sub"] = self.subject
        out["iss"] = urls.issuer
        if scopes.has(OPENID) and scopes.has(FHIR_USER) and self.claims.get("fhirUser"):
            out["fhirUser"] = f"{urls.fhir_base}/{self.claims['fhirUser']}"
        return out


def find_issued(auth: AuthComponents, token: str, hint: str | None) -> IssuedToken | None:
    lookups = [_access, _refresh] if hint != "refresh_token" else [_refresh, _access]
    for lookup in lookups:
        found = lookup(auth, token)
        if found is not None:
            return found
    return None


def _access(auth: AuthComponents, token: str) -> IssuedToken | None:
    claims = auth.verifier.signed_claims(token)
    if claims is None or not isinstance(claims.get("exp"), int) or not isinstance(claims.get("jti"), str):
        return None
    return IssuedToken(
        kind="access_token",
        client_id=claims.get("client_id"),
        scope=str(claims.get("scope", "")),
        exp=claims["exp"],
        subject=str(claims.get("sub")),
        revoked=auth.revocations.token_revoked(claims),
        claims=claims,
    )


def _refresh(auth: AuthComponents, token: str) -> IssuedToken | None:
    found = auth.refresh_tokens.find(token)
    if found is None:
        return None
    principal = found.principal
    # A spent (rotated) token can no longer be used, so it is not active; nor is one whose user or client
    # has been deleted or disabled since it was issued.
    revoked = (
        found.revoked
        or found.used
        or auth.revocations.outdated(found.generations, principal.username, found.client_id)
    )
    return IssuedToken(
        kind="refresh_token",
        client_id=found.client_id,
        scope=found.scope,
        exp=int(found.expires.timestamp()),
        subject=principal.username,
        revoked=revoked,
        claims={"patient": principal.patient, "fhirUser": principal.fhir_user},
        refresh_key=found.digest,
    )
