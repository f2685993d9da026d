"""The SHL viewer, served by us at /shl/viewer (static HTML + JS shipped in the package, no CDN). It works
for any SMART Health Link: the link travels after `#`, which browsers never send to a server, and all
decryption happens in the browser (WebCrypto AES-GCM, DecompressionStream('deflate-raw'))."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

STATIC = Path(__file__).parent / "static"
router = APIRouter(prefix="/shl/viewer", tags=["SMART Health Links"])
# The viewer holds a link's key (the URL fragment) and shows a patient's records: no other site may frame it
# (clickjacking, or a parent page reading what it shows through UI tricks). `frame-ancestors` is the CSP
# rule; X-Frame-Options covers browsers that do not know it.
_HEADERS = {
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src *; img-src * blob: data:; style-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
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
