"""HTTP routes of the dashboard.

GET /app/...                      the single-page app (index.html for every page: history-API routing)
GET /app/static/...               its assets (HTML, ES modules, CSS), shipped in the package, no CDN
GET /app/api/config               what the page needs to start (FHIR base, client id, scopes, systems)
GET /app/api/hospitals            each registered hospital the caller may see, with its last sync
GET /                             -> /app/                               (where a person lands first)
GET /dashboard                    -> /app/                               (the old application's addresses,
GET /patient-access/{id}          -> /app/patients/{id}                   kept for bookmarks and printed QR
GET /federation-access?…          -> /app/federation?…                    codes; 308, query string kept)

Every page and asset is sent with a Content-Security-Policy that allows only this origin's scripts, styles
and connections (no inline script), and without a referrer (the OAuth callback URL carries a code).

The API's token is verified by the server's one bearer check (fhir_server.security.enforcement.bearer, which
classifies
/app/api as protected and the pages, assets and config as public); its routes reach data only through the
caller's secured store (fhir_server.security.access.store).
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from fhir_server import __version__
from fhir_server.dashboard.client import CALLBACK_PATH, CLIENT_ID, SCOPE
from fhir_server.dicomweb import DicomwebRuntime, RuntimeDep
from fhir_server.errors import FhirError, Problem
from fhir_server.security.access.store import SecuredStore, secured
from fhir_server.security.components import AuthComponents
from fhir_server.security.oauth.urls import Urls
from terminology.systems import LEGACY_HOSPITAL_ID_SYSTEM

STATIC = (Path(__file__).parent / "static").resolve()
APP_PREFIX = "/app"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
_MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}

router = APIRouter(tags=["dashboard"])


def _urls(request: Request) -> Urls:
    auth: AuthComponents = request.app.state.auth
    return Urls.for_settings(auth.settings)


def server_root(request: Request) -> str:
    """This server's root URL (the FHIR base without `/fhir`), as the authorization server sees it: from
    the configuration, never from the Host header (the page sends its sign-in to this address)."""
    return _urls(request).fhir_base.rsplit("/", 1)[0]


def _root_path(request: Request) -> str:
    return urlsplit(server_root(request)).path.rstrip("/")


def _redirect(request: Request, path: str) -> RedirectResponse:
    query = request.url.query
    target = f"{_root_path(request)}{path}" + (f"?{query}" if query else "")
    return RedirectResponse(target, status_code=308, headers={"Cache-Control": "no-cache"})


# -- the old application's addresses ------------------------------------------------------------------


@router.get("/", include_in_schema=False)
def server_home(request: Request) -> Response:
    """The server's root is where a person lands first: the dashboard."""
    return _redirect(request, f"{APP_PREFIX}/")


@router.get("/dashboard", include_in_schema=False)
def legacy_dashboard(request: Request) -> Response:
    return _redirect(request, f"{APP_PREFIX}/")


@router.get("/patient-access/{patient_id}", include_in_schema=False)
def legacy_patient_access(patient_id: str, request: Request) -> Response:
    # The id may be the old one (PAT-901234) or a FHIR id: the page resolves both.
    return _redirect(request, f"{APP_PREFIX}/patients/{quote(patient_id, safe='')}")


@router.get("/federation-access", include_in_schema=False)
def legacy_federation_access(request: Request) -> Response:
    return _redirect(request, f"{APP_PREFIX}/federation")


# -- JSON for the page ------------------------------------------------------------------------------------


@router.get(f"{APP_PREFIX}/api/config")
def config(request: Request) -> Response:
    """Public: nothing here is secret (the same as the SMART discovery document says, plus two systems)."""
    auth: AuthComponents = request.app.state.auth
    settings = auth.settings
    root = server_root(request)
    body = {
        "fhirBase": _urls(request).fhir_base,
        "appBase": f"{_root_path(request)}{APP_PREFIX}/",
        "clientId": CLIENT_ID,
        "redirectUri": root + CALLBACK_PATH,
        "scope": SCOPE,
        "nationalIdSystem": settings.national_id_system,
        "hospitalIdSystem": LEGACY_HOSPITAL_ID_SYSTEM,
        "authMode": settings.auth_mode,
        "version": __version__,
    }
    return JSONResponse(body, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


@router.get(f"{APP_PREFIX}/api/hospitals")
async def hospitals(request: Request, runtime: RuntimeDep) -> Response:
    """Registered hospitals and their last Orthanc sync: not exposed by any other API. The caller sees the
    hospitals whose Organization they may search (no Orthanc URL or credential is in it)."""
    store = secured(request, "search")
    body = await run_in_threadpool(hospital_sync_report, runtime, store)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def hospital_sync_report(runtime: DicomwebRuntime, store: SecuredStore) -> dict[str, Any]:
    store.require("search", "Organization")
    engine = store.engine
    # Every Organization the caller may search (a handful: one per hospital), so that a token whose scopes
    # are filtered to some hospitals sees only those.
    visible = {c.id for c in engine.candidates("Organization", engine.clauses([]))}
    out = []
    for hospital in runtime.connections.all():
        if hospital.organization_id not in visible:
            continue
        state = runtime.sync.state.get(hospital.organization_id)
        out.append(
            {
                "organization": hospital.organization_reference,
                "identifier": hospital.identifier,
                "name": hospital.name,
                "endpoints": [f"Endpoint/{i}" for i in hospital.endpoint_ids],
                # lastSync, lastSyncError, lastAttempt, consecutiveFailures, failingSince: how fresh the
                # hospital's studies are, and since when its PACS could not be synced.
                **state.to_json(),
            }
        )
    # 0: no background sync (studies change only by `fhir-server sync` or "Sync now").
    return {"hospitals": out, "syncIntervalSeconds": runtime.sync.settings.dicomweb_sync_interval_seconds}


@router.api_route(f"{APP_PREFIX}/api/{{rest:path}}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def unknown_api(rest: str) -> Response:
    raise FhirError(Problem.NOT_FOUND, f"The dashboard has no API {rest[:100]!r}")


# -- the page and its assets --------------------------------------------------------------------------


@router.get(f"{APP_PREFIX}/static/{{name:path}}", include_in_schema=False)
def asset(name: str) -> Response:
    path = (STATIC / name).resolve()
    media = _MEDIA_TYPES.get(path.suffix)
    if media is None or not path.is_relative_to(STATIC) or not path.is_file() or path.name == "index.html":
        raise FhirError(Problem.NOT_FOUND, f"No dashboard asset {name[:100]!r}")
    return FileResponse(path, media_type=media, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


@lru_cache(maxsize=1)
def _index_template() -> str:
    return (STATIC / "index.html").read_text(encoding="utf-8")


def index_html(root_path: str) -> str:
    return _index_template().replace("%ROOT%", html.escape(root_path, quote=True))


@router.get(APP_PREFIX, include_in_schema=False)
def app_root(request: Request) -> Response:
    return RedirectResponse(f"{_root_path(request)}{APP_PREFIX}/", status_code=308)


@router.get(f"{APP_PREFIX}/{{page:path}}", include_in_schema=False)
def app_page(request: Request, page: str) -> Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    return Response(index_html(_root_path(request)), media_type="text/html", headers=headers)
