"""The OAuth grants of the SMART authorization server, as authlib grant subclasses.

- `SmartAuthorizationCode`: App Launch 2.2 §obtain-authorization-code / §obtain-access-token; PKCE S256
  mandatory (`S256Only`), `aud` must be our FHIR base and `launch` must name a live EHR launch context
  (`SmartLaunchParameters`), id_token with `fhirUser` (`SmartOpenID`).
- `SmartRefreshToken`: §refresh-access-token; a narrower scope may be asked for, a wider one is invalid_scope.
  Refresh tokens rotate, and a reused one revokes its grant (refresh_tokens.py). A public client may leave
  out `client_id`: its refresh token names it (SMART's JavaScript client refreshes that way).
- `BackendServices`: Backend Services §obtaining-an-access-token, client_credentials + private_key_jwt,
  `system/` scopes only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfo
from joserfc.jwk import RSAKey

from fhir_server.security.enforcement.principal import Principal
from fhir_server.security.enforcement.scopes import FHIR_USER, ScopeSet, join, split
from fhir_server.security.oauth.codes import AuthorizationCode
from fhir_server.security.oauth.refresh_tokens import RefreshToken

if TYPE_CHECKING:
    from fhir_server.security.oauth.authorization_server import SmartAuthorizationServer

CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
USER_AUTH_METHODS = [*CONFIDENTIAL_AUTH_METHODS, "none"]


class S256Only(CodeChallenge):
    """PKCE as App Launch 2.2 §considerations-for-pkce-support requires: S256 only, for every client."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    CODE_CHALLENGE_METHODS: ClassVar[dict[str, Any]] = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256 (plain is not accepted)")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class SmartLaunchParameters:
    """`aud` (App Launch 2.2 §obtain-authorization-code: "the EHR SHALL confirm that aud matches its own
    FHIR endpoint") and `launch` (EHR launch: an opaque handle to a context the EHR created)."""

    def __init__(self, server: SmartAuthorizationServer) -> None:
        self.server = server

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.validate)

    def validate(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not self.server.urls.is_fhir_base(data.get("aud")):
            raise InvalidRequestError(
                f"aud must be this server's FHIR base URL, {self.server.urls.fhir_base}"
            )
        launch = data.get("launch")
        if launch:
            context = self.server.auth.launches.resolve(launch, grant.request.client.get_client_id())
            if context is None:
                raise InvalidRequestError("Unknown or expired launch")
            grant.request.launch_context = context


class SmartOpenID(OpenIDCode):
    """id_token (RS256, our signing key) with `fhirUser` as an absolute URL
    (§scopes-for-requesting-identity-data)."""

    def __init__(self, server: SmartAuthorizationServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server
        self._kid = ""

    def resolve_client_private_key(self, client: Any) -> RSAKey:
        signing = self.server.auth.keys.signing_key()
        self._kid = signing.kid
        return signing.key

    def get_encode_header(self, client: Any) -> dict[str, str]:
        self.resolve_client_private_key(client)
        return {"alg": "RS256", "kid": self._kid, "typ": "JWT"}

    def get_client_algorithm(self, client: Any) -> str:
        return "RS256"

    def get_client_claims(self, client: Any) -> dict[str, Any]:
        return {"iss": self.server.urls.issuer, "aud": [client.get_client_id()]}

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return self.server.auth.codes.nonce_used(request.payload.client_id, nonce)

    def generate_user_info(self, user: Principal, scope: str) -> UserInfo:
        info = UserInfo(sub=user.username)
        if FHIR_USER in split(scope) and user.fhir_user:
            info["fhirUser"] = f"{self.server.urls.fhir_base}/{user.fhir_user}"
        return info


class SmartAuthorizationCode(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = USER_AUTH_METHODS
    server: SmartAuthorizationServer

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        self.server.auth.codes.save(
            code,
            AuthorizationCode(
                client_id=request.client.get_client_id(),
                redirect_uri=data["redirect_uri"],
                scope=request.scope,
                principal=request.user,
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                nonce=data.get("nonce"),
                generations=self.server.auth.revocations.current(
                    request.user.username, request.client.get_client_id()
                ),
            ),
        )

    def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
        record = self.server.auth.codes.consume(code, client.get_client_id())
        if record is None:
            self.server.revoke_replayed_code(code)
        else:
            self.server.granted = record.generations
        return record

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        pass  # consumed atomically in query_authorization_code

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Principal:
        return authorization_code.principal


class SmartRefreshToken(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = USER_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation (refresh_tokens.py)
    server: SmartAuthorizationServer

    def _validate_request_client(self) -> Any:
        """A public client cannot authenticate anyway, and SMART's own JavaScript client refreshes without
        `client_id`: when a request carries no client credentials at all and its refresh token belongs to a
        public client, the token names the client. Anything else authenticates as usual (a confidential
        client's refresh token without its credentials stays invalid_client)."""
        client = self._public_client_of_refresh_token()
        if client is None:
            return super()._validate_request_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(f"The client may not use 'grant_type={self.GRANT_TYPE}'")
        self.request.auth_method = "none"
        return client

    def _public_client_of_refresh_token(self) -> Any:
        data = self.request.payload.data
        credentials = data.get("client_id") or data.get("client_assertion") or data.get("client_secret")
        if credentials or self.request.headers.get("Authorization"):
            return None
        token = self.server.auth.refresh_tokens.find(self.request.form.get("refresh_token") or "")
        client = self.server.query_client(token.client_id) if token is not None else None
        return client if client is not None and client.kind == "public" else None

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        # A spent (rotated) token passes here on purpose: spending it again below is what detects the reuse.
        token = self.server.auth.refresh_tokens.find(refresh_token)
        if token is None or token.is_expired() or token.is_revoked():
            return None
        return token

    def _validate_token_scope(self, token: RefreshToken) -> None:
        requested = self.request.payload.scope
        if requested and not all(ScopeSet.parse(token.get_scope()).covers(s) for s in split(requested)):
            raise InvalidScopeError("The requested scope exceeds the scope originally granted")

    def validate_token_request(self) -> None:
        super().validate_token_request()
        token: RefreshToken = self.request.refresh_token
        # Spent atomically once everything else about the request is valid: of parallel refreshes with one
        # token at most one gets past this line, and a request refused for its scope does not burn the token.
        if not self.server.auth.refresh_tokens.spend(token.digest):
            if token.used or self.server.auth.refresh_tokens.was_spent(token.digest):
                self.server.refresh_token_reused(token)
            raise InvalidGrantError("The refresh token has already been used or was revoked")
        self.server.granted = token.generations

    def authenticate_user(self, refresh_token: RefreshToken) -> Principal:
        return refresh_token.principal

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        pass  # spent atomically in validate_token_request


class BackendServices(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt"]
    server: SmartAuthorizationServer

    def validate_token_request(self) -> None:
        super().validate_token_request()
        requested = [s for s in split(self.request.payload.scope) if s.startswith("system/")]
        granted = ScopeSet.parse(self.request.client.scope).narrow(join(requested))
        if not granted:
            raise InvalidScopeError("Request system/ scopes that this client is registered for")
        self.request.scope = granted

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
