"""Database command latency for the metrics: a driver event listener feeding `DB_LATENCY`.

Lives in storage because it is a pymongo listener; the histogram itself is the metrics module's.
"""

from __future__ import annotations

from pymongo import monitoring

from fhir_server.observability.metrics import DB_LATENCY


class DatabaseCommandTimer(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        DB_LATENCY.labels(event.command_name).observe(event.duration_micros / 1e6)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        DB_LATENCY.labels(event.command_name).observe(event.duration_micros / 1e6)
