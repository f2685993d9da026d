"""Registered client applications (App Launch 2.2 §client-authentication,
§registering-a-smart-app-with-an-ehr) and the authlib `ClientMixin` view of them.

Three kinds:
- `public` (client-public): no secret, token endpoint auth `none`, PKCE only;
- `confidential-symmetric`: a client secret (HTTP Basic or form post), stored scrypt-hashed;
- `confidential-asymmetric`: private_key_jwt with keys from a registered JWKS or JWKS URL
  (client-confidential-asymmetric); with no redirect URI it is a backend service (client_credentials only).
Redirect URIs are matched exactly (RFC 9700 §4.1.3). The one exception are the server's own first-party
apps (the dashboard, registered by server code, never through the admin API or CLI): their redirect URIs
are paths such as `/app/callback`, meaning that path on this server's own root (FHIR_PUBLIC_BASE_URL's, else
the one the authorization request was sent to) and nowhere else.

Deleting or disabling a client revokes every token issued to it (see revocation.py); a disabled client
cannot authenticate or start an authorization until it is re-enabled, which does not revive old tokens.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from fhir_server.security.accounts.passwords import hash_secret, verify_secret
from fhir_server.security.enforcement.scopes import CONTEXT_SCOPES, ScopeSet, parse_resource_scope, split
from fhir_server.security.oauth.revocation import Revocations
from fhir_server.storage.documents import Documents
from fhir_server.storage.errors import DuplicateKey

ClientKind = Literal["public", "confidential-symmetric", "confidential-asymmetric"]
CLIENT_KINDS: tuple[ClientKind, ...] = ("public", "confidential-symmetric", "confidential-asymmetric")
_AUTH_METHODS: dict[ClientKind, frozenset[str]] = {
    "public": frozenset({"none"}),
    "confidential-symmetric": frozenset({"client_secret_basic", "client_secret_post"}),
    "confidential-asymmetric": frozenset({"private_key_jwt"}),
}
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")


class ClientRegistrationError(ValueError):
    """The registration request is invalid; the message says what to fix."""


@dataclass
class Client(ClientMixin):
    client_id: str
    name: str
    kind: ClientKind
    scope: str
    redirect_uris: list[str] = field(default_factory=list)
    secret_hash: str | None = None
    jwks: KeySetSerialization | None = None  # public keys only (`public_key_set`)
    jwks_url: str | None = None
    introspect: bool = False  # may introspect any token (a resource server), not only its own
    first_party: bool = False  # served by this server: relative redirect URIs (see the module docstring)
    server_root: str | None = None  # this server's root for this request (bound by `for_server`)
    disabled: bool = False  # a disabled client is unknown to the OAuth endpoints

    # -- authlib ClientMixin --------------------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # SMART requires redirect_uri on every authorization request

    def get_allowed_scope(self, scope: str | None) -> str | None:
        allowed = ScopeSet.parse(self.scope).narrow(scope)
        return allowed or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if redirect_uri in self.redirect_uris and not redirect_uri.startswith("/"):
            return True
        root = self.server_root
        return (
            self.first_party
            and root is not None
            and any(uri.startswith("/") and redirect_uri == root + uri for uri in self.redirect_uris)
        )

    def for_server(self, root: str) -> Client:
        """This client as seen by a request to the server at `root` (no trailing slash)."""
        return replace(self, server_root=root.rstrip("/"))

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret_hash is not None and verify_secret(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in _AUTH_METHODS[self.kind]

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and bool(self.redirect_uris)

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type in ("authorization_code", "refresh_token"):
            return bool(self.redirect_uris)
        return grant_type == "client_credentials" and self.kind == "confidential-asymmetric"

    # -- views ------------------------------------------------------------------------------------------

    @property
    def auth_method(self) -> str:
        return sorted(_AUTH_METHODS[self.kind])[0]

    def public_view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "client_id": self.client_id,
            "client_name": self.name,
            "kind": self.kind,
            "scope": self.scope,
            "redirect_uris": self.redirect_uris,
            "token_endpoint_auth_method": self.auth_method,
            "introspect": self.introspect,
        }
        if self.jwks_url:
            out["jwks_uri"] = self.jwks_url
        if self.jwks:
            out["jwks"] = self.jwks
        if self.disabled:  # only then, so that the view of an ordinary client keeps its shape
            out["disabled"] = True
        return out


def new_client(
    *,
    client_id: str | None,
    name: str,
    kind: str,
    scope: str,
    redirect_uris: Sequence[str] = (),
    secret: str | None = None,
    jwks: dict[str, Any] | None = None,
    jwks_url: str | None = None,
    introspect: bool = False,
) -> tuple[Client, str | None]:
    """A validated client and, for a symmetric one, its secret in clear (shown once, stored hashed)."""
    client_id = client_id or secrets.token_urlsafe(12)
    if not _CLIENT_ID.match(client_id):
        raise ClientRegistrationError("client_id: 1-64 characters of A-Z a-z 0-9 . _ ~ -")
    if kind not in CLIENT_KINDS:
        raise ClientRegistrationError(f"kind must be one of {', '.join(CLIENT_KINDS)}")
    bad = [s for s in split(scope) if s not in CONTEXT_SCOPES and parse_resource_scope(s) is None]
    if bad or not split(scope):
        raise ClientRegistrationError(f"scope: not SMART scopes: {' '.join(bad) or '(empty)'}")
    for uri in redirect_uris:
        _check_url(uri, "redirect_uri")
    if kind != "confidential-asymmetric" and not redirect_uris:
        raise ClientRegistrationError(f"a {kind} client needs at least one redirect_uri")
    stored_jwks: KeySetSerialization | None = None
    if kind == "confidential-asymmetric":
        if bool(jwks) == bool(jwks_url):
            raise ClientRegistrationError(
                "a confidential-asymmetric client needs exactly one of jwks, jwks_url"
            )
        if jwks_url:
            _check_url(jwks_url, "jwks_url", https_only=True)
        if jwks:
            stored_jwks = public_key_set(jwks)
    elif jwks or jwks_url:
        raise ClientRegistrationError("only confidential-asymmetric clients register keys")
    if kind == "confidential-symmetric":
        secret = secret or secrets.token_urlsafe(32)
        if len(secret) < 16:
            raise ClientRegistrationError("client secret: at least 16 characters")
    elif secret:
        raise ClientRegistrationError("only confidential-symmetric clients have a secret")
    client = Client(
        client_id=client_id,
        name=name or client_id,
        kind=kind,
        scope=" ".join(split(scope)),
        redirect_uris=list(redirect_uris),
        secret_hash=hash_secret(secret) if secret else None,
        jwks=stored_jwks,
        jwks_url=jwks_url,
        introspect=introspect,
    )
    return client, secret


def public_key_set(jwks: dict[str, Any]) -> KeySetSerialization:
    """The public half of a JWKS (a private key pasted by mistake is never stored); every key needs a kid."""
    try:
        key_set = KeySet.import_key_set({"keys": jwks["keys"]})  # a key set is read from "keys" only
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise ClientRegistrationError(f"jwks: not a JSON Web Key Set: {exc}") from None
    if not key_set.keys or any(not k.kid or k.key_type not in ("RSA", "EC") for k in key_set.keys):
        raise ClientRegistrationError("jwks: needs RSA or EC keys, each with a kid")
    return {"keys": [k.as_dict(private=False) for k in key_set.keys]}


def _check_url(url: str, what: str, https_only: bool = False) -> None:
    parts = urlsplit(url)
    if parts.fragment or not parts.netloc or parts.scheme not in ("https", "http"):
        raise ClientRegistrationError(f"{what}: an absolute http(s) URL without fragment, got {url!r}")
    if parts.scheme == "http" and https_only and not _loopback(parts.hostname or ""):
        raise ClientRegistrationError(f"{what}: must use https (http only for localhost)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ClientRegistry:
    def __init__(self, documents: Documents) -> None:
        self._clients = documents.collection("auth_clients")
        self._revocations = Revocations(documents)

    def add(self, client: Client) -> None:
        doc = {"_id": client.client_id, **_to_doc(client), "created": datetime.now(UTC)}
        try:
            self._clients.insert_one(doc)
        except DuplicateKey:
            raise ClientRegistrationError(f"client {client.client_id!r} already exists") from None

    def get(self, client_id: str) -> Client | None:
        doc = self._clients.find_one({"_id": client_id}) if isinstance(client_id, str) else None
        return None if doc is None else _from_doc(doc)

    def list(self) -> list[Client]:
        return [_from_doc(d) for d in self._clients.find(sort=[("_id", 1)])]

    def remove(self, client_id: str) -> bool:
        if self.get(client_id) is None:
            return False
        deleted = self._revocations.deactivating(
            "client", client_id, lambda: self._clients.delete_one({"_id": client_id})
        )
        return deleted == 1

    def set_disabled(self, client_id: str, disabled: bool) -> Client | None:
        """Disable (revoking every token issued to the client) or re-enable; None if there is no such client.
        `disabled` is kept out of `_to_doc`, so `put` (the server registering its own apps at every start)
        does not re-enable a client an administrator disabled."""
        if self.get(client_id) is None:
            return None

        def change() -> dict[str, Any] | None:
            update = {"$set": {"disabled": disabled}}
            return self._clients.find_one_and_update({"_id": client_id}, update, return_after=True)

        doc = self._revocations.deactivating("client", client_id, change) if disabled else change()
        return None if doc is None else _from_doc(doc)

    def active(self, client_id: str) -> Client | None:
        """The client if it is registered and not disabled (checked when a token is minted for it)."""
        client = self.get(client_id)
        return None if client is None or client.disabled else client

    def put(self, client: Client) -> None:
        """Create or replace (for clients the server registers itself, idempotently at start-up)."""
        self._clients.update_one(
            {"_id": client.client_id},
            {"$set": _to_doc(client), "$setOnInsert": {"created": datetime.now(UTC)}},
            upsert=True,
        )


def _to_doc(client: Client) -> dict[str, Any]:
    return {
        "name": client.name,
        "kind": client.kind,
        "scope": client.scope,
        "redirect_uris": client.redirect_uris,
        "secret_hash": client.secret_hash,
        "jwks": client.jwks,
        "jwks_url": client.jwks_url,
        "introspect": client.introspect,
        "first_party": client.first_party,
    }


def _from_doc(doc: dict[str, Any]) -> Client:
    return Client(
        client_id=doc["_id"],
        name=doc["name"],
        kind=doc["kind"],
        scope=doc["scope"],
        redirect_uris=list(doc.get("redirect_uris") or []),
        secret_hash=doc.get("secret_hash"),
        jwks=doc.get("jwks"),
        jwks_url=doc.get("jwks_url"),
        introspect=bool(doc.get("introspect")),
        first_party=bool(doc.get("first_party")),
        disabled=bool(doc.get("disabled")),
    )
