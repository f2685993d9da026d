"""The SHL viewer, served by us at /shl/viewer (static HTML + JS shipped in the package, no CDN). It works
for any SMART Health Link: the link travels after `#`, which browsers never send to a server, and all
decryption happens in the browser (WebCrypto AES-GCM, DecompressionStream('deflate-raw'))."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

STATIC = Path(__file__).parent / "static"
router = APIRouter(prefix="/shl/viewer", tags=["SMART Health Links"])
_HEADERS = {
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; connect-src *; img-src * blob: data:; style-src 'self'",
}


@router.get("")
def viewer_page() -> Response:
    return FileResponse(STATIC / "viewer.html", media_type="text/html", headers=_HEADERS)


@router.get("/{name}")
def viewer_asset(name: str) -> Response:
    media = {"viewer.js": "text/javascript", "viewer.css": "text/css"}.get(name)
    if media is None:
        return Response("not found", 404)
    return FileResponse(STATIC / name, media_type=media, headers=_HEADERS)
