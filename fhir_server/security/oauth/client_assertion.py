"""private_key_jwt client authentication for SMART Backend Services and confidential-asymmetric apps
(App Launch 2.2 §client-confidential-asymmetric, RFC 7523 §2.2), on authlib's `JWTBearerClientAssertion`.

On top of authlib's checks (signature, iss = sub = client_id, aud = our token URL, exp, jti present) SMART
requires: alg RS384 or ES384 only (never `none`, never HMAC), `kid` present and naming a registered key,
`typ` JWT, a `jku` only if it equals the registered JWKS URL, exp at most five minutes ahead, and each jti
used once. Every failure is `invalid_client`.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key

from fhir_server.security.oauth.assertion_replay import AssertionReplay
from fhir_server.security.oauth.client_keys import ClientKeyError, ClientKeys

ALGORITHMS = ("RS384", "ES384")
MAX_LIFETIME_SECONDS = 300
_LEEWAY_SECONDS = 5


def oauth_text(text: str) -> str:
    """An error_description may only hold printable ASCII without quote and backslash (RFC 6749 §5.2)."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "'" for c in text)[:300]


class SmartClientAssertion(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, audiences: list[str], client_keys: ClientKeys, replay: AssertionReplay) -> None:
        super().__init__(validate_jti=True, leeway=_LEEWAY_SECONDS)
        self._audiences = audiences
        self._client_keys = client_keys
        self._replay = replay
        self._header: dict[str, Any] = {}

    def get_audiences(self) -> list[str]:
        return self._audiences

    def extract_assertion(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        header, claims = super().extract_assertion(assertion)
        if header.get("alg") not in ALGORITHMS:
            raise InvalidClientError(description=f"Assertion alg must be one of {', '.join(ALGORITHMS)}")
        if not isinstance(header.get("kid"), str) or not header["kid"]:
            raise InvalidClientError(description="Assertion header needs a kid")
        if header.get("typ", "JWT") != "JWT":
            raise InvalidClientError(description="Assertion typ must be JWT")
        self._header = dict(header)
        return header, claims

    def resolve_client_public_key(self, client: Any) -> Key:
        try:
            return self._client_keys.key_for(client, self._header["kid"], self._header.get("jku"))
        except ClientKeyError as exc:
            raise InvalidClientError(description=oauth_text(str(exc))) from None

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=[self._header["alg"]])
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description=oauth_text(f"Invalid assertion: {exc}")) from None
        claims = dict(token.claims)
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp > time.time() + MAX_LIFETIME_SECONDS + _LEEWAY_SECONDS:
            raise InvalidClientError(description="Assertion exp must be at most five minutes in the future")
        self.verify_claims(token.claims)
        return claims

    def validate_jti(self, claims: dict[str, Any], jti: Any) -> bool:
        if not isinstance(jti, str) or not jti:
            return False
        return self._replay.first_use(str(claims["iss"]), jti, int(claims["exp"]), _LEEWAY_SECONDS)
