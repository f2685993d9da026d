"""Introspection (RFC 7662, App Launch 2.2 §token-introspection) and revocation (RFC 7009).

Introspection needs client authentication (RFC 7662 §2.1, against token scanning), the same methods and code
as the token endpoint's for confidential clients: client_secret_basic, client_secret_post, private_key_jwt.
A public client cannot authenticate (its client_id is no secret), so it cannot introspect; a request without
authentication is 401 invalid_client with a `WWW-Authenticate` challenge. Revocation (RFC 7009 §2.1) also
accepts a public client by its client_id, so that a browser app can end its own session.

A client may introspect and revoke its own tokens; a client registered with `introspect` (a resource
server) may introspect any token. Unknown, expired, revoked or foreign tokens are `{"active": false}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from fhir_server.security.oauth.grants import CONFIDENTIAL_AUTH_METHODS, USER_AUTH_METHODS
from fhir_server.security.oauth.issued_tokens import IssuedToken, find_issued

if TYPE_CHECKING:
    from fhir_server.security.oauth.authorization_server import SmartAuthorizationServer


class SmartIntrospection(IntrospectionEndpoint):
    # client_secret_basic among them makes authlib answer a failed authentication with 401 and
    # WWW-Authenticate (RFC 6749 §5.2), whichever method the client tried.
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS
    server: SmartAuthorizationServer

    def authenticate_endpoint_client(self, request: Any) -> Any:
        try:
            return super().authenticate_endpoint_client(request)
        except InvalidClientError as error:
            # Every failed authentication here is 401 with a challenge, also a bad client assertion (which
            # authlib answers with 400 at the token endpoint): the caller is not authorized to introspect.
            error.status_code = 401
            raise

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return find_issued(self.server.auth, token_string, token_type_hint)

    def check_permission(self, token: IssuedToken, client: Any, request: Any) -> bool:
        return bool(token.check_client(client) or getattr(client, "introspect", False))

    def introspect_token(self, token: IssuedToken) -> dict[str, Any]:
        return token.introspection(self.server.urls)


class SmartRevocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = USER_AUTH_METHODS
    server: SmartAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return find_issued(self.server.auth, token_string, token_type_hint)

    def revoke_token(self, token: IssuedToken, request: Any) -> None:
        self.server.revoke(token)
