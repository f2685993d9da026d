"""Everything the authorization server and the enforcement need, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.database import Database

from fhir_server.auth.assertion_replay import AssertionReplay
from fhir_server.auth.audit import AuditLog
from fhir_server.auth.client_keys import ClientKeys
from fhir_server.auth.clients import ClientRegistry
from fhir_server.auth.codes import AuthorizationCodes
from fhir_server.auth.keys import KeyStore
from fhir_server.auth.launch import LaunchContexts
from fhir_server.auth.pending import PendingAuthorizations
from fhir_server.auth.refresh_tokens import RefreshTokens
from fhir_server.auth.revocation import Revocations
from fhir_server.auth.tokens import TokenVerifier
from fhir_server.auth.users import UserRegistry
from fhir_server.db import DatabaseConnection
from fhir_server.settings import Settings
from fhir_server.storage.mongo import MongoRepository


@dataclass
class AuthComponents:
    settings: Settings
    db: Database[dict[str, Any]]
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
    repository: MongoRepository | None  # the patient picker lists Patients from it

    @property
    def development(self) -> bool:
        return self.settings.auth_mode == "development"

    def close(self) -> None:
        self.audit.close()


def build_auth(
    settings: Settings,
    connection: DatabaseConnection,
    repository: MongoRepository | None = None,
    *,
    background_audit: bool = True,
) -> AuthComponents:
    db = connection.db
    revocations = Revocations(db)
    keys = KeyStore(db)
    auth = AuthComponents(
        settings=settings,
        db=db,
        keys=keys,
        clients=ClientRegistry(db),
        users=UserRegistry(db),
        codes=AuthorizationCodes(db),
        refresh_tokens=RefreshTokens(db),
        revocations=revocations,
        assertions=AssertionReplay(db),
        launches=LaunchContexts(db),
        pending=PendingAuthorizations(db),
        client_keys=ClientKeys(),
        audit=AuditLog(db, background=background_audit),
        verifier=TokenVerifier(keys, revocations),
        repository=repository,
    )
    for store in (auth.codes, auth.refresh_tokens, revocations, auth.assertions, auth.launches, auth.pending):
        store.ensure_indexes()
    auth.audit.ensure_indexes()
    return auth
