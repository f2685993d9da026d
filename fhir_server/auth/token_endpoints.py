"""Introspection (RFC 7662, App Launch 2.2 §token-introspection) and revocation (RFC 7009).

Callers authenticate as a registered client (any of its methods, public clients with their client_id).
A client may introspect and revoke its own tokens; a client registered with `introspect` (a resource
server) may introspect any token. Unknown, expired, revoked or foreign tokens are `{"active": false}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from fhir_server.auth.grants import USER_AUTH_METHODS
from fhir_server.auth.issued_tokens import IssuedToken, find_issued

if TYPE_CHECKING:
    from fhir_server.auth.authorization_server import SmartAuthorizationServer


class SmartIntrospection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = USER_AUTH_METHODS
    server: SmartAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return find_issued(self.server.auth, token_string, token_type_hint)

    def check_permission(self, token: IssuedToken, client: Any, request: Any) -> bool:
        return bool(token.check_client(client) or getattr(client, "introspect", False))

    def introspect_token(self, token: IssuedToken) -> dict[str, Any]:
        return token.introspection(self.server.urls)


class SmartRevocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = USER_AUTH_METHODS
    server: SmartAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return find_issued(self.server.auth, token_string, token_type_hint)

    def revoke_token(self, token: IssuedToken, request: Any) -> None:
        self.server.revoke(token)
