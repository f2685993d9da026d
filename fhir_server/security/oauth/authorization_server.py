"""The SMART authorization server: authlib's framework-neutral `AuthorizationServer` bound to our stores,
one instance per request (it knows the request's public URLs and the caller's address).

Token lifetimes: user tokens FHIR_ACCESS_TOKEN_SECONDS (default 3600, App Launch 2.2 recommends at most an
hour); backend services 300 s (Backend Services §response: "SHOULD NOT exceed five minutes").

Every token is minted for a user and client that are still active, and carries their revocation generations
(revocation.py), read before that check, so that deleting or disabling either revokes it exactly.
"""

from __future__ import annotations

from typing import Any

import orjson
from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from joserfc import jws
from joserfc.errors import JoseError
from starlette.responses import Response

from fhir_server.audit.log import AuditRecord, Outcome, Who
from fhir_server.security.components import AuthComponents
from fhir_server.security.enforcement.principal import Principal
from fhir_server.security.enforcement.scopes import (
    LAUNCH,
    LAUNCH_PATIENT,
    OFFLINE_ACCESS,
    ONLINE_ACCESS,
    ScopeSet,
)
from fhir_server.security.oauth.access_tokens import Grant, mint_access_token
from fhir_server.security.oauth.client_assertion import SmartClientAssertion
from fhir_server.security.oauth.grants import (
    BackendServices,
    S256Only,
    SmartAuthorizationCode,
    SmartLaunchParameters,
    SmartOpenID,
    SmartRefreshToken,
)
from fhir_server.security.oauth.issued_tokens import IssuedToken
from fhir_server.security.oauth.refresh_tokens import (
    ONLINE_ACCESS_SECONDS,
    FamilyRevoked,
    Issued,
    RefreshToken,
)
from fhir_server.security.oauth.revocation import Generations
from fhir_server.security.oauth.token_endpoints import SmartIntrospection, SmartRevocation
from fhir_server.security.oauth.urls import Urls

BACKEND_TOKEN_SECONDS = 300


class SmartAuthorizationServer(AuthorizationServer):
    def __init__(self, auth: AuthComponents, urls: Urls, endpoint_url: str, address: str | None) -> None:
        super().__init__()
        self.auth = auth
        self.urls = urls
        self.address = address
        self._minted: dict[str, Any] = {}
        self._generations = Generations()  # those of the token just minted
        # The generations stored with the grant being exchanged (code, refresh token): minting refuses a grant
        # made before its user or client was deleted or disabled, even if re-created or re-enabled since.
        self.granted: Generations | None = None
        self.register_token_generator("default", self._generate_token)
        audiences = list(dict.fromkeys([urls.token, endpoint_url]))
        self.register_client_auth_method(
            "private_key_jwt", SmartClientAssertion(audiences, auth.client_keys, auth.assertions)
        )
        self.register_grant(
            SmartAuthorizationCode, [S256Only(), SmartLaunchParameters(self), SmartOpenID(self)]
        )
        self.register_grant(SmartRefreshToken)
        self.register_grant(BackendServices)
        self.register_endpoint(SmartIntrospection(self))
        self.register_endpoint(SmartRevocation(self))

    # -- authlib hooks ----------------------------------------------------------------------------------

    def query_client(self, client_id: str) -> Any:
        client = self.auth.clients.get(client_id)
        if client is None or client.disabled:
            return None
        # The server root this request reached (or FHIR_PUBLIC_BASE_URL's): a first-party app's redirect
        # URIs are paths on it.
        return client.for_server(self.urls.fhir_base.rsplit("/", 1)[0])

    def create_oauth2_request(self, request: Any) -> Any:
        return request  # the routes build a PlainOAuth2Request themselves

    def create_json_request(self, request: Any) -> Any:
        return request

    def validate_requested_scope(self, scope: str | None) -> None:
        """Scopes are narrowed, never refused wholesale: unknown ones are dropped (see ScopeSet.narrow)."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        content = orjson.dumps(body) if isinstance(body, dict) else (body or b"")
        response = Response(content, status_code=status)
        for name, value in headers:
            response.headers[name] = value
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def handle_error_response(self, request: Any, error: OAuth2Error) -> Response:
        if request is not None and str(getattr(request, "uri", "")).endswith("/token"):
            data = request.payload.data if request.payload is not None else {}
            # A public client refreshing without client_id is known by its refresh token (grants.py).
            known = getattr(request, "client", None)
            client_id = data.get("client_id") or (known.get_client_id() if known is not None else None)
            self._audit_token(
                Who(client_id or _assertion_subject(data) or "unknown", address=self.address),
                outcome="4",
                description=f"token request refused: {error.error}: {error.description or ''}".strip(),
            )
        # authlib is untyped; its error response is what handle_response (above) builds.
        response: Response = super().handle_error_response(request, error)
        return response

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        claims = self._minted
        issued = Issued(claims["jti"], claims["exp"])
        principal: Principal | None = request.user
        spent: RefreshToken | None = request.refresh_token
        refresh_key = None
        if "refresh_token" in token and principal is not None:
            if spent is not None:
                try:
                    refresh_key = self.auth.refresh_tokens.rotate(
                        spent, token["refresh_token"], self._generations, issued
                    )
                except FamilyRevoked as revoked:
                    self._revoke_access_tokens(revoked.issued)
                    raise InvalidGrantError("The refresh token's grant has been revoked") from None
            else:
                refresh_key = self.auth.refresh_tokens.save(
                    token["refresh_token"],
                    request.client.get_client_id(),
                    token["scope"],
                    principal,
                    self._refresh_lifetime(token["scope"]),
                    self._generations,
                    issued,
                )
        elif spent is not None:
            self.auth.refresh_tokens.remember_access_token(spent.digest, issued.jti, issued.exp)
        if request.authorization_code is not None:
            self.auth.codes.record_issued(request.form["code"], issued.jti, issued.exp, refresh_key)
        who = Who(
            principal.username if principal else request.client.get_client_id(),
            client_id=request.client.get_client_id(),
            role=principal.role if principal else None,
            fhir_user=principal.fhir_user if principal else None,
            address=self.address,
        )
        patient = claims.get("patient")
        self._audit_token(
            who,
            outcome="0",
            description=f"token issued: {token['scope']}",
            patients=(patient,) if patient else (),
        )

    def _refresh_lifetime(self, scope: str) -> float:
        if ScopeSet.parse(scope).has(OFFLINE_ACCESS):
            return self.auth.settings.refresh_token_days * 86400
        return ONLINE_ACCESS_SECONDS

    # -- tokens -----------------------------------------------------------------------------------------

    def _generate_token(
        self,
        grant_type: str,
        client: Any,
        user: Principal | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        scope = scope or ""
        scopes = ScopeSet.parse(scope)
        backend = user is None
        lifetime = BACKEND_TOKEN_SECONDS if backend else self.auth.settings.access_token_seconds
        self._generations = self._active_generations(client.get_client_id(), user)
        grant = Grant(
            subject=user.username if user else client.get_client_id(),
            scope=scope,
            client_id=client.get_client_id(),
            patient=user.patient if user else None,
            fhir_user=user.fhir_user if user else None,
            role=user.role if user else None,
            generations=self._generations,
        )
        access_token, self._minted = mint_access_token(self.auth.keys, self.urls, grant, lifetime)
        token: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": scope,
        }
        if user is not None and user.patient:
            token["patient"] = user.patient
            if scopes.has(LAUNCH) or scopes.has(LAUNCH_PATIENT):
                token["need_patient_banner"] = user.need_patient_banner
        # A refresh always returns the grant's next refresh token (rotation), also when it asked for a scope
        # without offline_access/online_access: the presented one is spent.
        refreshing = grant_type == "refresh_token"
        if (
            include_refresh_token
            and user is not None
            and (scopes.has(OFFLINE_ACCESS) or scopes.has(ONLINE_ACCESS) or refreshing)
        ):
            token["refresh_token"] = generate_token(48)
        return token

    def _active_generations(self, client_id: str, user: Principal | None) -> Generations:
        """The generations for a token about to be minted, after checking that its user and client are still
        active. The generations are read first: a deactivation after the read makes them stale, one before it
        is seen by the check (revocation.py)."""
        subject = user.username if user else client_id
        current = self.auth.revocations.current(subject, client_id)
        if self.granted is not None and self.granted.outdated_by(current):
            raise InvalidGrantError("The grant was revoked: its user or client has been deleted or disabled")
        if self.auth.clients.active(client_id) is None:
            raise InvalidGrantError("The client has been deleted or disabled")
        if user is not None and self.auth.users.active(user.username) is None:
            raise InvalidGrantError("The user has been deleted or disabled")
        return current

    def revoke(self, token: IssuedToken) -> None:
        if token.kind == "access_token":
            self.auth.revocations.revoke(str(token.claims["jti"]), token.exp)
        elif token.refresh_key is not None:
            self._revoke_access_tokens(self.auth.refresh_tokens.revoke(token.refresh_key))

    def refresh_token_reused(self, token: RefreshToken) -> None:
        """A spent refresh token was presented again: someone else holds a copy. The whole grant goes."""
        self._revoke_access_tokens(self.auth.refresh_tokens.revoke_family(token.family))
        self._audit_token(
            Who(
                token.principal.username,
                client_id=token.client_id,
                role=token.principal.role,
                address=self.address,
            ),
            outcome="4",
            description="refresh token reused after rotation: the grant and all its tokens are revoked",
        )

    def revoke_replayed_code(self, code: str) -> None:
        issued = self.auth.codes.replayed(code)
        if issued is None:
            return
        if issued.access_jti and issued.access_exp:
            self.auth.revocations.revoke(issued.access_jti, issued.access_exp)
        if issued.refresh_digest:
            self._revoke_access_tokens(self.auth.refresh_tokens.revoke(issued.refresh_digest))

    def _revoke_access_tokens(self, issued: list[Issued]) -> None:
        for token in issued:
            self.auth.revocations.revoke(token.jti, token.exp)

    def _audit_token(
        self, who: Who, *, outcome: Outcome, description: str, patients: tuple[str, ...] = ()
    ) -> None:
        self.auth.audit.record(
            AuditRecord(
                category="login",
                subtype="token",
                action="E",
                outcome=outcome,
                who=who,
                patients=patients,
                description=description,
            )
        )


def _assertion_subject(data: dict[str, str]) -> str | None:
    """The client a (maybe invalid) client assertion claims to be, for the audit trail only."""
    assertion = data.get("client_assertion")
    if not assertion:
        return None
    try:
        claims = orjson.loads(jws.extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError, orjson.JSONDecodeError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return f"{sub} (unverified)" if isinstance(sub, str) else None
