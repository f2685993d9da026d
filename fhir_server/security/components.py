"""Everything the authorization server and the enforcement need, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from fhir_server.audit.log import AuditLog
from fhir_server.security.accounts.clients import ClientRegistry
from fhir_server.security.accounts.users import UserRegistry
from fhir_server.security.oauth.access_tokens import TokenVerifier
from fhir_server.security.oauth.assertion_replay import AssertionReplay
from fhir_server.security.oauth.client_keys import ClientKeys
from fhir_server.security.oauth.codes import AuthorizationCodes
from fhir_server.security.oauth.launch import LaunchContexts
from fhir_server.security.oauth.pending import PendingAuthorizations
from fhir_server.security.oauth.refresh_tokens import RefreshTokens
from fhir_server.security.oauth.revocation import Revocations
from fhir_server.security.oauth.signing_keys import KeyStore
from fhir_server.security.oauth.token_cache import RevocationWatcher, VerifiedTokenCache
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection
from fhir_server.storage.documents import Documents
from fhir_server.storage.repository import Repository


@dataclass
class AuthComponents:
    settings: Settings
    documents: Documents
    keys: KeyStore
    clients: ClientRegistry
    users: UserRegistry
    codes: AuthorizationCodes
    refresh_tokens: RefreshTokens
    revocations: Revocations
    assertions: AssertionReplay
    launches: LaunchContexts
    pending: PendingAuthorizations
    client_keys: ClientKeys
    audit: AuditLog
    verifier: TokenVerifier
    repository: Repository | None  # the patient picker lists Patients from it
    token_watcher: RevocationWatcher | None = None  # keeps the verifier's token cache exact (servers only)

    @property
    def development(self) -> bool:
        return self.settings.auth_mode == "development"

    def close(self) -> None:
        if self.token_watcher is not None:
            self.token_watcher.stop()
        self.audit.close()


def build_auth(
    settings: Settings,
    connection: DatabaseConnection,
    repository: Repository | None = None,
    *,
    background_audit: bool = True,
    token_cache: bool = False,
) -> AuthComponents:
    """The collections' indexes are the schema's (`fhir_server.storage.schema.ensure_schema`, run by the
    caller at start-up). `token_cache` (a server's): verified tokens are kept (FHIR_TOKEN_CACHE_SIZE of them,
    0: none), and a watcher thread, started here and stopped by `close`, keeps them and the signing keys
    exact (oauth/token_cache.py)."""
    documents = connection.documents
    revocations = Revocations(documents)
    keys = KeyStore(documents)
    cache = VerifiedTokenCache(settings.token_cache_size) if token_cache else None
    watcher = None if cache is None else RevocationWatcher(cache, revocations, keys)
    auth = AuthComponents(
        settings=settings,
        documents=documents,
        keys=keys,
        clients=ClientRegistry(documents),
        users=UserRegistry(documents),
        codes=AuthorizationCodes(documents),
        refresh_tokens=RefreshTokens(documents),
        revocations=revocations,
        assertions=AssertionReplay(documents),
        launches=LaunchContexts(documents),
        pending=PendingAuthorizations(documents),
        client_keys=ClientKeys(),
        audit=AuditLog(connection.documents, background=background_audit),
        verifier=TokenVerifier(keys, revocations, cache),
        repository=repository,
        token_watcher=watcher,
    )
    if watcher is not None:
        watcher.start()
    return auth
