"""ASGI middleware: no browser or intermediary cache keeps patient data or tokens.

Every response under the prefixes below carries `Cache-Control: no-store` (RFC 9111 §5.2.2.5) and, for
HTTP/1.0 caches, `Pragma: no-cache`. Without it a browser may keep a Patient fetched with a bearer token in
its HTTP cache, keyed by URL alone, and answer a later request of the same profile — without the token, or
by another user of a shared workstation — from that copy. A response's own `Cache-Control` stays when it
already says no-store (it may add `private`, never less); anything weaker (`no-cache`, `max-age=60`) is
replaced. Doing it here, once, also covers the responses no route produces: 401s of the authentication
middleware, 413s of the body limit, CORS preflights.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Everything that may carry PHI, tokens or links that open PHI: the FHIR API (with the SMART discovery
# document), the DICOMweb proxy, the authorization server and its admin API, SMART Health Links (manifests,
# files, the viewer), the dashboard's JSON API, the legacy QR-code routes (/api, each QR an SHL) and the
# hospital registry (/admin). The dashboard's own assets (/app/static) stay cacheable.
NO_STORE_PREFIXES = ("/fhir", "/dicomweb", "/auth", "/shl", "/app/api", "/api", "/admin")
# Public assets inside those prefixes, without patient data: their own caching headers stay.
CACHEABLE_PREFIXES = ("/auth/static/",)
# Each prefix as a path segment: `/fhir` and `/fhir/...`, never `/fhirx`.
_NO_STORE_SUBTREES = tuple(prefix + "/" for prefix in NO_STORE_PREFIXES)

_NO_STORE = b"no-store"
_NO_CACHE = b"no-cache"


def needs_no_store(path: str) -> bool:
    if path.startswith(CACHEABLE_PREFIXES):
        return False
    return path in NO_STORE_PREFIXES or path.startswith(_NO_STORE_SUBTREES)


def _directives(value: bytes) -> set[bytes]:
    return {d.split(b"=", 1)[0].strip().lower() for d in value.split(b",")}


def with_no_store(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with Cache-Control: no-store and Pragma: no-cache, keeping a Cache-Control that says
    no-store already (a stricter one, e.g. `no-store, private`)."""
    cache_control = [v for k, v in headers if k.lower() == b"cache-control"]
    pragma = [v for k, v in headers if k.lower() == b"pragma"]
    keep_cache_control = any(_NO_STORE in _directives(v) for v in cache_control)
    keep_pragma = any(_NO_CACHE in _directives(v) for v in pragma)
    out = [
        (k, v)
        for k, v in headers
        if not (k.lower() == b"cache-control" and not keep_cache_control)
        and not (k.lower() == b"pragma" and not keep_pragma)
    ]
    if not keep_cache_control:
        out.append((b"cache-control", _NO_STORE))
    if not keep_pragma:
        out.append((b"pragma", _NO_CACHE))
    return out


class NoStore:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not needs_no_store(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": with_no_store(list(message.get("headers", [])))}
            await send(message)

        await self.app(scope, receive, send_no_store)
