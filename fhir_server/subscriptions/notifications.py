"""Notification bundles as the Subscriptions Backport IG defines them for R4: a `history` Bundle whose first
entry is the SubscriptionStatus (an R4 `Parameters` with the backport's parameter names), then, per event,
the focus as `id-only` (its full URL and request) or `full-resource` (the resource too); `empty` sends the
status alone (https://hl7.org/fhir/uv/subscriptions-backport/notifications.html)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from fhir_server.subscriptions.state import Event
from fhir_server.type_aliases import Document, JsonObject

NotificationType = Literal["handshake", "heartbeat", "event-notification", "query-status", "query-event"]
# Reads the focus of an event for a full-resource payload, with the subscriber's access (None: not shown).
ReadFocus = Callable[[Event], JsonObject | None]


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_parameters(
    sub: Document, base_url: str, kind: NotificationType, events: Sequence[Event] = ()
) -> JsonObject:
    """The SubscriptionStatus of `sub` (R4 Parameters representation)."""
    parameters: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"{base_url}/Subscription/{sub['_id']}"}},
        {"name": "topic", "valueCanonical": sub["topic"]},
        {"name": "status", "valueCode": sub["status"]},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(sub.get("events", 0))},
    ]
    for event in events:
        parts: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(event.number)},
            {"name": "timestamp", "valueInstant": _instant(event.timestamp)},
        ]
        if sub.get("content") != "empty":
            parts.append(
                {
                    "name": "focus",
                    "valueReference": {"reference": f"{base_url}/{event.focus_type}/{event.focus_id}"},
                }
            )
        parameters.append({"name": "notification-event", "part": parts})
    if sub.get("error"):
        parameters.append({"name": "error", "valueCodeableConcept": {"text": str(sub["error"])}})
    return {"resourceType": "Parameters", "id": uuid.uuid4().hex, "parameter": parameters}


def notification_bundle(
    sub: Document,
    base_url: str,
    kind: NotificationType,
    events: Sequence[Event] = (),
    read_focus: ReadFocus | None = None,
) -> JsonObject:
    status = status_parameters(sub, base_url, kind, events)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{status['id']}",
            "resource": status,
            "request": {"method": "GET", "url": f"{base_url}/Subscription/{sub['_id']}/$status"},
            "response": {"status": "200"},
        }
    ]
    content = sub.get("content")
    if content != "empty":
        for event in events:
            url = f"{base_url}/{event.focus_type}/{event.focus_id}"
            entry: dict[str, Any] = {
                "fullUrl": url,
                "request": {
                    "method": "POST" if event.version == 1 else "PUT",
                    "url": f"{event.focus_type}/{event.focus_id}",
                },
                "response": {"status": "201" if event.version == 1 else "200"},
            }
            if content == "full-resource" and read_focus is not None:
                resource = read_focus(event)
                if resource is not None:
                    entry["resource"] = resource
            entries.append(entry)
    return {
        "resourceType": "Bundle",
        "id": uuid.uuid4().hex,
        "type": "history",
        "timestamp": _instant(datetime.now(UTC)),
        "entry": entries,
    }
