"""FHIR topic-based subscriptions (Subscriptions R5 Backport IG for R4): topics, the Subscription resource,
events from the write journal, rest-hook and websocket delivery.

The face: the handlers of the route table's rows (fhir_server.rest.routes), the websocket router and
`start` for the composition root, `TOPICS` for whoever lists them."""

from fhir_server.subscriptions.components import Subscriptions, start, subscriptions_of
from fhir_server.subscriptions.handlers import (
    WEBSOCKET_PATH,
    create,
    delete,
    events,
    read,
    search,
    status,
    topic_read,
    topic_search,
    update,
    ws_binding_token,
)
from fhir_server.subscriptions.topics import TOPICS, capability_resources
from fhir_server.subscriptions.websocket import router

__all__ = [
    "TOPICS",
    "WEBSOCKET_PATH",
    "Subscriptions",
    "capability_resources",
    "create",
    "delete",
    "events",
    "read",
    "router",
    "search",
    "start",
    "status",
    "subscriptions_of",
    "topic_read",
    "topic_search",
    "update",
    "ws_binding_token",
]
