"""ASGI middleware: request body size limit (413 before the body is buffered); gzip for FHIR responses."""

from __future__ import annotations

import orjson
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_server.errors import FhirError, Problem


class BodyTooLarge(Exception):
    pass


class TrackedSend:
    """`send`, noting whether the response has started: after that, no other answer can be sent."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        if _header(scope, b"transfer-encoding") is None:
            # Without chunked encoding the body is the declared length (none: no body), which the server
            # (h11, httptools) never reads past: nothing left to count.
            await self.app(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        tracked = TrackedSend(send)
        try:
            await self.app(scope, limited_receive, tracked)
        except BodyTooLarge:
            if not tracked.started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        error = FhirError(
            Problem.TOO_LARGE,
            f"The request body exceeds the limit of {self.max_bytes} bytes (FHIR_MAX_BODY_BYTES)",
        )
        body = orjson.dumps(error.outcome())
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/fhir+json; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


# Only FHIR JSON is compressed: the DICOMweb proxy (already compressed pixel data, multipart streams), SMART
# Health Links (encrypted files) and everything else pass untouched; also excluded by type, whatever the path.
GZIP_PREFIX = "/fhir"
GZIP_MINIMUM_BYTES = 1024
GZIP_EXCLUDED_TYPES = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,
    "image/*",
    "application/dicom",
    "application/octet-stream",
    "application/pdf",
    "multipart/*",
)


class FhirGZip:
    """Starlette's gzip for responses under /fhir of at least GZIP_MINIMUM_BYTES, when the client accepts
    gzip; any other request goes straight through."""

    def __init__(self, app: ASGIApp, minimum_size: int = GZIP_MINIMUM_BYTES) -> None:
        self.app = app
        self._gzip = GZipMiddleware(
            app, minimum_size=minimum_size, compresslevel=6, exclude_content_types=GZIP_EXCLUDED_TYPES
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _under(scope["path"], GZIP_PREFIX):
            accepted = _header(scope, b"accept-encoding")
            if accepted is not None and b"gzip" in accepted:
                await self._gzip(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")
