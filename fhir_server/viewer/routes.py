"""HTTP routes of the bundled viewer.

GET /viewer/                           the OHIF Viewer (its shell for every viewer page: history routing)
GET /viewer/app-config.js              its configuration, generated (fhir_server.viewer.ohif_config)
GET /viewer/{asset}                    its build (installed by `fhir-server install-viewer`)
GET /viewer/IHEInvokeImageDisplay?…    IHE IID: open the viewer on a study or a patient, after sign-in
GET /viewer/signin?returnTo=…          sign in (the dashboard's SMART sign-in), then back to the viewer
GET /viewer/api/launch?…               which studies an IID request names (token; the caller's secured store)

The pages and assets are public (the bearer check's RULES): the images are not, every DICOMweb request the
viewer makes carries the user's token and is decided by the proxy. Without the viewer installed the server
runs as before and `/viewer/` says how to install it.
"""

from __future__ import annotations

import html
import mimetypes
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from fhir_server.api.dependencies import ServicesDep
from fhir_server.dicomweb import accepts_gzip
from fhir_server.security.access.store import secured
from fhir_server.viewer.install import installed_version
from fhir_server.viewer.launch import resolve
from fhir_server.viewer.location import viewer_dir
from fhir_server.viewer.ohif_config import app_config_js
from fhir_server.viewer.page import content_security_policy, shell

router = APIRouter(tags=["viewer"], include_in_schema=False)

STATIC = (Path(__file__).parent / "static").resolve()
_HEADERS = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
_MEDIA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".html": "text/html",
}
# Our own pages (launcher, sign-in): only this origin's module scripts.
_OWN_PAGE_CSP = content_security_policy([])


@router.get("/viewer")
async def viewer_root() -> RedirectResponse:
    return RedirectResponse("/viewer/", status_code=308)


@router.get("/viewer/app-config.js")
async def app_config() -> Response:
    return Response(
        app_config_js(), media_type="text/javascript", headers={**_HEADERS, "Cache-Control": "no-cache"}
    )


@router.get("/viewer/IHEInvokeImageDisplay")
@router.get("/viewer/signin")
async def launcher() -> Response:
    return FileResponse(
        STATIC / "launch.html",
        media_type="text/html",
        headers={**_HEADERS, "Content-Security-Policy": _OWN_PAGE_CSP},
    )


@router.get("/viewer/static/{name}")
async def own_asset(name: str) -> Response:
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file() or path.suffix not in (".js", ".css"):
        return _not_found()
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)


@router.get("/viewer/api/launch")
async def launch(request: Request) -> JSONResponse:
    store = secured(request, "search")
    query = {k: v for k, v in request.query_params.items()}
    result = await run_in_threadpool(resolve, store, query)
    return JSONResponse(result.to_json())


@router.get("/viewer/{path:path}")
async def viewer(path: str, request: Request, services: ServicesDep) -> Response:
    root = viewer_dir(services.settings)
    if installed_version(root) is None:
        return _not_installed()
    if path:
        asset = (root / path).resolve()
        # index.html only ever as the rewritten shell (with its CSP), never as shipped.
        if (
            asset.is_relative_to(root)
            and asset.is_file()
            and asset.suffix != ".gz"
            and asset.name != "index.html"
        ):
            return _asset(asset, request)
    # Any other path is a page of the viewer's own router.
    page = await run_in_threadpool(shell, root / "index.html")
    return Response(
        page.html,
        media_type="text/html",
        headers={
            **_HEADERS,
            "Content-Security-Policy": page.content_security_policy,
            "Cache-Control": "no-cache",
        },
    )


def _asset(asset: Path, request: Request) -> Response:
    media_type = _MEDIA_TYPES.get(asset.suffix) or mimetypes.guess_type(asset.name)[0]
    packed = asset.with_name(asset.name + ".gz")
    if accepts_gzip(request.headers.get("accept-encoding")) and packed.is_file():
        headers = {**_HEADERS, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return FileResponse(packed, media_type=media_type, headers=headers)
    return FileResponse(asset, media_type=media_type, headers={**_HEADERS, "Vary": "Accept-Encoding"})


def _not_installed() -> Response:
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Viewer not installed</title>"
        "<h1>The image viewer is not installed</h1>"
        "<p>Install it on the server with <code>fhir-server install-viewer</code> "
        "(or <code>bash scripts/bootstrap.sh</code>), then reload this page.</p>"
    )
    return Response(
        body,
        status_code=503,
        media_type="text/html",
        headers={**_HEADERS, "Content-Security-Policy": "default-src 'none'", "Retry-After": "60"},
    )


def _not_found() -> Response:
    return Response(html.escape("Not found"), status_code=404, media_type="text/plain", headers=_HEADERS)
