"""How the SMART authorization server and its enforcement plug into the application (used by app.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.middleware.cors import CORSMiddleware

from fhir_server.security.admin import routes as routes_admin
from fhir_server.security.components import AuthComponents, build_auth
from fhir_server.security.enforcement.bearer import BearerAuthentication
from fhir_server.security.login import routes as routes_login
from fhir_server.security.oauth import routes as routes_oauth
from fhir_server.security.oauth.discovery import capability_security
from fhir_server.security.oauth.urls import Urls
from fhir_server.security.server_base import fhir_base, record_server_base
from fhir_server.security.startup import announce
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection
from fhir_server.storage.repository import Repository

# Before the generic FHIR routes: /fhir/{type}/{id} would otherwise take /fhir/.well-known/….
ROUTERS: tuple[APIRouter, ...] = (
    routes_oauth.router,
    routes_login.router,
    routes_admin.router,
)
EXPOSED_HEADERS = ["Location", "Content-Location", "ETag", "Last-Modified", "WWW-Authenticate"]


def security_statement(settings: Settings) -> Callable[[str], Mapping[str, Any]]:
    development = settings.auth_mode == "development"
    return lambda base: capability_security(Urls.for_base(base), development)


def start(settings: Settings, connection: DatabaseConnection, repository: Repository) -> AuthComponents:
    auth = build_auth(settings, connection, repository, token_cache=True)
    auth.keys.signing_key()  # generate the first key now rather than on the first token request
    record_server_base(connection.documents, settings)
    announce(settings, fhir_base(settings))
    return auth


def add_authentication(app: FastAPI) -> None:
    """Innermost, inside the body-size limit: unauthenticated requests are refused before a body is read."""
    app.add_middleware(BearerAuthentication)


def add_cors(app: FastAPI) -> None:
    """Browser apps (SMART public clients) call the FHIR API and the token endpoint from other origins with
    bearer tokens, never cookies: any origin may, and 401s must be readable to them."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
    )
