"""HEAD wherever GET is answered (RFC 9110 §9.3.2): the same status and headers as GET, no body.

The framework's routes take HEAD only where a route says so, and most of ours (dashboard, administration,
health, DICOMweb) never did: HEAD on them was 405. This middleware answers every HEAD as the GET it stands
for, whichever route serves it; the server (uvicorn), which still sees HEAD, sends no body. A path whose
routes take no GET answers 405 with their `Allow`, as a GET would.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # A copy: the server's own scope keeps HEAD, so that it sends no body whatever the app writes.
        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, headers_only)
        finally:
            if "route" in as_get:  # the matched route, for the request observer's metrics label
                scope["route"] = as_get["route"]
