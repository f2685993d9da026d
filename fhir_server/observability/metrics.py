"""Prometheus metrics: requests and latency per interaction, database command latency.

Scraped at `GET /metrics` (text exposition format). Per-interaction labels come from the matched route
template, never from the raw path, so ids cannot explode the label space.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_server.observability.logs import request_id

log = logging.getLogger("fhir_server.access")

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "fhir_requests_total",
    "HTTP requests by interaction and status",
    ["interaction", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "fhir_request_seconds",
    "HTTP request latency by interaction",
    ["interaction"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
DB_LATENCY = Histogram(
    "fhir_db_command_seconds",
    "Database command latency",
    ["command"],
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
SYNC_LAG = Gauge(
    "fhir_sync_lag_seconds",
    "Seconds since the last completed sync per hospital",
    ["hospital"],
    registry=REGISTRY,
)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def interaction_of(method: str, route_path: str | None) -> str:
    """The FHIR interaction of the route table's row (fhir_server.core.routes), else `METHOD path`."""
    if route_path is None:
        return "unmatched"
    if route_path == "/fhir" or route_path.startswith("/fhir/"):
        # Imported when first needed: the table imports every interaction, which import far more than metrics.
        from fhir_server.core.routes import ROUTES

        read_as = "GET" if method == "HEAD" else method
        if found := ROUTES.interaction_of(read_as, route_path.removeprefix("/fhir").rstrip("/")):
            return found
    return f"{method} {route_path}"


class RequestObserver:
    """Request id (X-Request-ID in and out), an access log line, and the request metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            interaction = interaction_of(scope["method"], getattr(route, "path", None))
            if interaction != "GET /metrics":
                REQUESTS.labels(interaction, str(status)).inc()
                LATENCY.labels(interaction).observe(elapsed)
            log.info(
                "request",
                extra={
                    "fields": {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "interaction": interaction,
                    }
                },
            )
            request_id.reset(token)


# The database command listener feeding DB_LATENCY is storage's (fhir_server.storage.command_timer).
