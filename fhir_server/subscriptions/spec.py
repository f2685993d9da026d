"""A Subscription resource as the Subscriptions R5 Backport IG profiles it for R4 (`backport-subscription`):
`criteria` is the topic's canonical URL, its `backport-filter-criteria` extensions the filters
(`ImagingStudy?patient=Patient/1&modality=CT`), the channel's extensions the heartbeat period, timeout and
max count, `channel.payload`'s `backport-payload-content` extension the payload (empty, id-only,
full-resource). Parsed here into a `SubscriptionSpec`; anything unknown or malformed is a 400 naming the
element.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

from fhir.resources.R4B.subscription import Subscription

from fhir_server.errors import FhirError, Problem
from fhir_server.subscriptions.topics import TOPICS, Topic
from fhir_server.type_aliases import JsonObject
from fhir_server.validation import check_structure

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
PROFILE = BACKPORT + "backport-subscription"
FILTER_CRITERIA = BACKPORT + "backport-filter-criteria"
PAYLOAD_CONTENT = BACKPORT + "backport-payload-content"
HEARTBEAT_PERIOD = BACKPORT + "backport-heartbeat-period"
TIMEOUT = BACKPORT + "backport-timeout"
MAX_COUNT = BACKPORT + "backport-max-count"

Content = Literal["empty", "id-only", "full-resource"]
ChannelType = Literal["rest-hook", "websocket"]
CONTENTS: tuple[Content, ...] = ("empty", "id-only", "full-resource")
# Statuses a client may send: `requested` (and `active`, as read back) ask for activation, which the server
# decides after a handshake; `error` is the server's to set.
CLIENT_STATUSES = ("requested", "active", "off")
MAX_HEADERS = 10
MIN_HEARTBEAT_SECONDS = 1
MAX_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class SubscriptionSpec:
    topic: Topic
    filters: dict[str, list[str]]
    channel: ChannelType
    endpoint: str | None
    headers: tuple[str, ...]
    content: Content
    heartbeat_seconds: int | None
    timeout_seconds: int
    max_count: int
    off: bool  # the client asked for status off
    end: datetime | None  # when it ends by itself (Subscription.end)


def parse_subscription(data: JsonObject) -> SubscriptionSpec:
    check_structure(data, Subscription)
    status = data.get("status")
    if status not in CLIENT_STATUSES:
        raise _invalid(
            f"status must be one of {', '.join(CLIENT_STATUSES)} (the server sets the others)", "status"
        )
    criteria = str(data.get("criteria") or "")
    topic = TOPICS.get(criteria)
    if topic is None:
        raise _invalid(
            f"Unknown subscription topic '{criteria[:200]}'; this server publishes: {', '.join(TOPICS)}",
            "criteria",
        )
    filters = _filters(topic, data.get("_criteria"))
    channel = data["channel"]
    channel_type = channel.get("type")
    if channel_type not in ("rest-hook", "websocket"):
        raise _invalid(f"Unsupported channel type '{channel_type}' (rest-hook, websocket)", "channel.type")
    endpoint = channel.get("endpoint")
    if channel_type == "rest-hook" and not endpoint:
        raise FhirError(
            Problem.REQUIRED, "A rest-hook channel needs an endpoint", ["Subscription.channel.endpoint"]
        )
    payload = channel.get("payload")
    if payload is not None and payload not in ("application/fhir+json", "application/json"):
        raise _invalid(f"Unsupported payload type '{payload}' (application/fhir+json)", "channel.payload")
    content = _content(channel.get("_payload"), payload is not None)
    headers = tuple(channel.get("header") or ())
    if len(headers) > MAX_HEADERS or any(":" not in h or "\n" in h or "\r" in h for h in headers):
        raise _invalid(f"channel.header: at most {MAX_HEADERS} 'Name: value' lines", "channel.header")
    extensions = _extensions(channel.get("extension"))
    heartbeat = _unsigned(extensions.get(HEARTBEAT_PERIOD), "heartbeat period", 0, 86_400)
    if heartbeat is not None and heartbeat < MIN_HEARTBEAT_SECONDS:
        heartbeat = None
    timeout = _unsigned(extensions.get(TIMEOUT), "timeout", 1, MAX_TIMEOUT_SECONDS) or 10
    max_count = _unsigned(extensions.get(MAX_COUNT), "max count", 1, 1000) or 50
    return SubscriptionSpec(
        topic=topic,
        filters=filters,
        channel=channel_type,
        endpoint=str(endpoint) if endpoint else None,
        headers=headers,
        content=content,
        heartbeat_seconds=heartbeat,
        timeout_seconds=timeout,
        max_count=max_count,
        off=status == "off",
        end=_instant(data.get("end")),
    )


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise _invalid("end must be an instant with a time zone", "end") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _filters(topic: Topic, criteria_element: Any) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    extensions = (criteria_element or {}).get("extension") or [] if isinstance(criteria_element, dict) else []
    for index, extension in enumerate(extensions):
        if not isinstance(extension, dict) or extension.get("url") != FILTER_CRITERIA:
            continue
        path = f"Subscription.criteria.extension[{index}].valueString"
        text = str(extension.get("valueString") or "")
        resource_type, _, query = text.partition("?")
        if resource_type != topic.resource_type:
            raise FhirError(
                Problem.INVALID,
                f"Filter '{text[:200]}' must start with '{topic.resource_type}?' (the topic's resource type)",
                [path],
            )
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name not in topic.filters:
                raise FhirError(
                    Problem.INVALID,
                    f"Unknown filter '{name}' for topic {topic.url}; allowed: {', '.join(topic.filters)}",
                    [path],
                )
            values = [v.strip() for v in value.split(",") if v.strip()]
            if not values:
                raise FhirError(Problem.INVALID, f"Filter '{name}' has no value", [path])
            filters.setdefault(name, []).extend(values)
    return filters


def _content(payload_element: Any, has_payload: bool) -> Content:
    for extension in _extension_list(payload_element):
        if extension.get("url") == PAYLOAD_CONTENT:
            code = extension.get("valueCode")
            if code not in CONTENTS:
                raise _invalid(f"Unknown payload content '{code}' ({', '.join(CONTENTS)})", "channel.payload")
            return code  # type: ignore[no-any-return]
    return "id-only" if has_payload else "empty"


def _extension_list(element: Any) -> list[dict[str, Any]]:
    if not isinstance(element, dict):
        return []
    return [e for e in element.get("extension") or [] if isinstance(e, dict)]


def _extensions(extensions: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for extension in extensions or []:
        if isinstance(extension, dict) and isinstance(extension.get("url"), str):
            value = next((v for k, v in extension.items() if k.startswith("value")), None)
            found[extension["url"]] = value
    return found


def _unsigned(value: Any, what: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _invalid(f"The {what} must be a whole number from {low} to {high}", "channel.extension")
    return value


def _invalid(message: str, element: str) -> FhirError:
    return FhirError(Problem.INVALID, message, [f"Subscription.{element}"])
