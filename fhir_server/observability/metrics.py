"""Prometheus metrics: requests and latency per interaction, database command latency.

Scraped at `GET /metrics` (text exposition format). Per-interaction labels come from the matched route
template, never from the raw path, so ids cannot explode the label space.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_server.observability.logs import request_id
from fhir_server.storage.command_timer import DB_LATENCY

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
# Defined by storage (its driver listener feeds it), exposed here with the other metrics.
REGISTRY.register(DB_LATENCY)
SYNC_LAG = Gauge(
    "fhir_sync_lag_seconds",
    "Seconds since the last completed sync per hospital",
    ["hospital"],
    registry=REGISTRY,
)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# (method, path under /fhir) -> the interaction of the FHIR route table's row, or None. Handed in by the
# application (fhir_server.rest.routes ROUTES.interaction_of), so metrics knows no FHIR layer above it.
FhirInteractionOf = Callable[[str, str], str | None]


def interaction_of(
    method: str, route_path: str | None, fhir_interaction: FhirInteractionOf | None = None
) -> str:
    """The FHIR interaction of the route table's row, else `METHOD path`."""
    if route_path is None:
        return "unmatched"
    if fhir_interaction is not None and (route_path == "/fhir" or route_path.startswith("/fhir/")):
        read_as = "GET" if method == "HEAD" else method
        if found := fhir_interaction(read_as, route_path.removeprefix("/fhir").rstrip("/")):
            return found
    return f"{method} {route_path}"


class RequestObserver:
    """Request id (X-Request-ID in and out), an access log line, and the request metrics."""

    def __init__(self, app: ASGIApp, fhir_interaction: FhirInteractionOf | None = None) -> None:
        self.app = app
        self.fhir_interaction = fhir_interaction

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        rid = given if given and _SAFE_ID.match(given) else os.urandom(16).hex()  # a UUID4 costs more
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
            interaction = interaction_of(scope["method"], getattr(route, "path", None), self.fhir_interaction)
            if interaction != "GET /metrics":
                REQUESTS.labels(interaction, str(status)).inc()
                LATENCY.labels(interaction).observe(elapsed)
            if log.isEnabledFor(logging.INFO):  # the access log line is built only when it is written
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
