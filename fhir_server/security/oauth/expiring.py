"""Helpers for the short-lived records of the authorization server (codes, launches, refresh tokens…).

Each such collection has a TTL index on `expires` (fhir_server.storage.schema); since TTL deletion runs
only now and then, every lookup also checks `expires` itself. Secrets handed to clients (codes, refresh
tokens) are stored only as SHA-256 digests, so a database dump does not yield usable credentials.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any


def now() -> datetime:
    return datetime.now(UTC)


def expires_in(seconds: float) -> datetime:
    return now() + timedelta(seconds=seconds)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def live(query: dict[str, Any]) -> dict[str, Any]:
    return {**query, "expires": {"$gt": now()}}
