"""Interactive API documentation that works offline: Swagger UI served from the `fastapi-offline` package's
copy of its assets (no CDN), and the OpenAPI document built once per process.

GET /docs                      Swagger UI (its "Authorize" button signs in with the SMART scheme)
GET /docs/oauth2-redirect      where the authorization server sends Swagger UI's code back
GET /docs/assets/{name}        Swagger UI's script, stylesheet and icon
GET /openapi.json              the document: `install` hands the framework's description of the routes to
                               `complete`, which replaces the FHIR API's part by one made from its route
                               table and adds the security scheme
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from fhir_server.errors import FhirError, Problem
from fhir_server.security.accounts.clients import Client, ClientRegistry
from fhir_server.storage.errors import DuplicateKey

DOCS_PATH = "/docs"
REDIRECT_PATH = f"{DOCS_PATH}/oauth2-redirect"
ASSETS = (Path(fastapi_offline.__file__).parent / "static").resolve()
_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
# Swagger UI's own client registration (registered at start, like the dashboard's): a first-party public
# client using PKCE, redirected only to /docs/oauth2-redirect on this server's own root.
CLIENT_ID = "api-docs"
CLIENT_SCOPE = "openid fhirUser user/*.cruds"

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    fhir_base = getattr(request.app.state, "docs_fhir_base", None)
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title=f"{request.app.title} – API",
        oauth2_redirect_url=f"{root}{REDIRECT_PATH}",
        swagger_js_url=f"{root}{DOCS_PATH}/assets/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_PATH}/assets/swagger-ui.css",
        swagger_favicon_url=f"{root}{DOCS_PATH}/assets/favicon.png",
        # validatorUrl None: Swagger UI would otherwise send the document to an online validator.
        swagger_ui_parameters={"validatorUrl": None, "docExpansion": "none", "tryItOutEnabled": False},
        init_oauth={
            "clientId": CLIENT_ID,
            "usePkceWithAuthorizationCodeGrant": True,
            "scopes": CLIENT_SCOPE,
            # SMART: the token's audience is the FHIR base, named in the authorization request.
            **({"additionalQueryStringParams": {"aud": fhir_base}} if fhir_base else {}),
        },
    )


@router.get(REDIRECT_PATH)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get(f"{DOCS_PATH}/assets/{{name}}")
def asset(name: str) -> Response:
    path = (ASSETS / name).resolve()
    media = _MEDIA_TYPES.get(path.suffix)
    if media is None or not path.is_relative_to(ASSETS) or not path.is_file():
        raise FhirError(Problem.NOT_FOUND, f"No documentation asset {name[:100]!r}")
    return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=3600"})


def install(app: FastAPI, complete: Callable[[dict[str, Any]], dict[str, Any]], fhir_base: str) -> None:
    """Serves the docs on `app` and makes `app.openapi()` the framework's description of its routes,
    completed by `complete` (which replaces the part it owns), built on first use and then kept."""
    app.include_router(router)
    app.state.docs_fhir_base = fhir_base

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():
                # Routes with several methods share an operation id; `complete` makes them unique.
                warnings.filterwarnings("ignore", message="Duplicate Operation ID")
                document = get_openapi(
                    title=app.title, version=app.version, description=app.description, routes=app.routes
                )
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def register_client(clients: ClientRegistry) -> None:
    """Create or reset Swagger UI's registration (idempotent; every worker does it at start)."""
    client = Client(
        client_id=CLIENT_ID,
        name="API documentation (Swagger UI)",
        kind="public",
        scope=CLIENT_SCOPE,
        redirect_uris=[REDIRECT_PATH],
        first_party=True,
    )
    try:
        clients.put(client)
    except DuplicateKey:  # two workers inserted at the same moment: the other one won; update it
        clients.put(client)
