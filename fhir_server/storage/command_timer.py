"""Database command latency: a driver event listener feeding `DB_LATENCY`.

Lives in storage because it is a pymongo listener; the histogram belongs to no registry here, so storage needs
nothing above it: fhir_server.observability.metrics registers it with the others it exposes at /metrics.
"""

from __future__ import annotations

from prometheus_client import Histogram
from pymongo import monitoring

DB_LATENCY = Histogram(
    "fhir_db_command_seconds",
    "Database command latency",
    ["command"],
    registry=None,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)


class DatabaseCommandTimer(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        DB_LATENCY.labels(event.command_name).observe(event.duration_micros / 1e6)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        DB_LATENCY.labels(event.command_name).observe(event.duration_micros / 1e6)
