"""THE route table of the FHIR API: every interaction and operation under [base] as one row
(https://hl7.org/fhir/R4/http.html, https://hl7.org/fhir/R4/operations.html).

HTTP registration (fhir_server.rest.http_adapter), metrics labels (fhir_server.observability.metrics),
the caller's store binding (`FhirRequest.store`), the CapabilityStatement (`capability_fields`) and
batch/transaction dispatch (fhir_server.interactions.bundle) all read it; operations come from
fhir_server/rest/data/operations.json. Building the table checks it (`RouteConflict`), so a clash fails at
start-up, never as a silently shadowed route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fhir_server import subscriptions
from fhir_server.core.request import FhirRequest
from fhir_server.core.result import FhirResult
from fhir_server.core.routing import Handler, Route, RouteTable
from fhir_server.interactions.terminology_operations import READ_ONLY_TYPES
from fhir_server.patients import merge_routes
from fhir_server.resource_types import MODELS
from fhir_server.rest import audit_events
from fhir_server.rest import handlers as h
from fhir_server.rest.operations import OperationDefinition, operation, operations, type_operations

if TYPE_CHECKING:
    from fhir_server.security.access.store import Interaction

BATCH_TRANSACTION = "batch-transaction"
_SHL = "fhir_server.shl.routes"  # its answers include QR images: served by the feature's own HTTP routes
_OAUTH = "fhir_server.security.oauth.routes"


def _core_routes() -> list[Route]:
    # Row order is free for matching; it is the order of the CapabilityStatement's interaction lists.
    return [
        Route("GET", "metadata", "capabilities", h.metadata),
        # SMART discovery (App Launch §2.1) lives under the base but is the authorization server's JSON.
        Route("GET", ".well-known/smart-configuration", "smart-configuration", None, served_by=_OAUTH),
        Route(
            "GET", "_history", "history-system", h.history_system, "history-system", ("history-system",), True
        ),
        Route("POST", "", BATCH_TRANSACTION, _batch_handler, "read", ("batch", "transaction")),
        Route("GET", "{type}/{id}", "read", h.read_resource, "read", ("read",), True, memory_first=True),
        Route(
            "GET",
            "{type}/{id}/_history/{vid}",
            "vread",
            h.vread_resource,
            "vread",
            ("vread",),
            True,
            memory_first=True,
        ),
        Route("PUT", "{type}/{id}", "update", h.update_resource, "update", ("update",), True),
        Route("PATCH", "{type}/{id}", "patch", h.patch_resource, "patch", ("patch",), True),
        Route("DELETE", "{type}/{id}", "delete", h.delete_resource, "delete", ("delete",), True),
        Route(
            "GET",
            "{type}/{id}/_history",
            "history-instance",
            h.history_instance,
            "history-instance",
            ("history-instance",),
            True,
        ),
        Route(
            "GET", "{type}/_history", "history-type", h.history_type, "history-type", ("history-type",), True
        ),
        Route("POST", "{type}", "create", h.create_resource, "create", ("create",), True),
        Route("PUT", "{type}", "conditional-update", h.conditional_update, "update"),
        Route("DELETE", "{type}", "conditional-delete", h.conditional_delete, "delete"),
        # Listed for a type only when it has search parameters (fhir_server.interactions.capabilities).
        Route("GET", "{type}", "search-type", h.search_get, "search", ("search-type",), True),
        Route("POST", "{type}/_search", "search-type", h.search_post, "search"),
    ]


# The handler of each operation that is served through the table, by name (and type, where names repeat).
_OPERATION_HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("validate", None): h.validate_resource,
    ("everything", "Patient"): h.patient_everything,
    ("merge", "Patient"): merge_routes.patient_merge,
    ("lookup", "CodeSystem"): h.terminology_operation,
    ("validate-code", "ValueSet"): h.terminology_operation,
    ("expand", "ValueSet"): h.terminology_operation,
    ("translate", "ConceptMap"): h.terminology_operation,
    ("status", "Subscription"): subscriptions.status,
    ("events", "Subscription"): subscriptions.events,
    ("get-ws-binding-token", "Subscription"): subscriptions.ws_binding_token,
}


def _operation_routes() -> list[Route]:
    rows: list[Route] = []
    for op in operations():
        for resource_type in op.resource_types:
            handler = _OPERATION_HANDLERS.get((op.name, None if resource_type == "*" else resource_type))
            served_by = None if handler is not None else _SHL
            first = "{type}" if resource_type == "*" else resource_type
            # A store only for what reads FHIR data: terminology reads the server's own shipped resources.
            permission: Interaction | None = None if resource_type in READ_ONLY_TYPES else "operation"
            for method in op.methods:
                for pattern in _patterns(op, first, served_by is not None):
                    rows.append(
                        Route(method, pattern, f"${op.name}", handler, permission, served_by=served_by)
                    )
    return rows


def _patterns(op: OperationDefinition, first: str, feature: bool) -> list[str]:
    # The SHL routes name their instance `{patient_id}`/`{study_id}`: the row names the path they registered.
    instance = "{patient_id}" if feature and first == "Patient" else "{study_id}" if feature else "{id}"
    by_level = {
        "system": f"${op.name}",
        "type": f"{first}/${op.name}",
        "instance": f"{first}/{instance}/${op.name}",
    }
    return [by_level[level] for level in op.levels]


def _terminology_routes() -> list[Route]:
    """The shipped CodeSystem, ValueSet, ConceptMap and NamingSystem: read, a small search, operations; every
    write is refused. `${operation}` answers an operation the type does not define (501), not a read of id
    "$name"."""
    rows: list[Route] = []
    for t in READ_ONLY_TYPES:
        rows += [
            Route("GET", t, "search-type", h.terminology_search),
            Route("POST", t, "create", h.terminology_write),
            Route("GET", f"{t}/{{id}}", "read", h.terminology_read),
            Route("PUT", f"{t}/{{id}}", "update", h.terminology_write),
            Route("PATCH", f"{t}/{{id}}", "patch", h.terminology_write),
            Route("DELETE", f"{t}/{{id}}", "delete", h.terminology_write),
        ]
        for method in ("GET", "POST"):
            rows += [
                Route(method, f"{t}/${{operation}}", "operation", h.terminology_operation),
                Route(method, f"{t}/{{id}}/${{operation}}", "operation", h.terminology_operation),
            ]
    return rows


def _audit_routes() -> list[Route]:
    """AuditEvent: read and search for administrators (the store decides), every write refused (405)."""
    t = audit_events.RESOURCE_TYPE
    rows = [
        Route("GET", t, "search-type", audit_events.search, "search"),
        Route("GET", f"{t}/{{id}}", "read", audit_events.read, "read"),
    ]
    for method, interaction in (
        ("POST", "create"),
        ("PUT", "update"),
        ("PATCH", "patch"),
        ("DELETE", "delete"),
    ):
        rows.append(Route(method, t, interaction, audit_events.write))
        rows.append(Route(method, f"{t}/{{id}}", interaction, audit_events.write))
    return rows


def _subscription_routes() -> list[Route]:
    """Topic-based subscriptions (fhir_server.subscriptions): Subscription and its operations, the topics.
    Bound to the caller's store for their access; each subscription is its creator's (the feature decides).
    Its operations ($status, $events, $get-ws-binding-token) are rows of `_operation_routes`, as data."""
    s, t = subscriptions, "Subscription"
    return [
        Route("POST", t, "create", s.create, "read"),
        Route("GET", t, "search-type", s.search, "read"),
        Route("GET", f"{t}/{{id}}", "read", s.read, "read"),
        Route("PUT", f"{t}/{{id}}", "update", s.update, "read"),
        Route("DELETE", f"{t}/{{id}}", "delete", s.delete, "read"),
        Route("GET", "SubscriptionTopic", "search-type", s.topic_search),
        Route("GET", "SubscriptionTopic/{id}", "read", s.topic_read),
    ]


def _batch_handler(req: FhirRequest) -> FhirResult:
    # Imported when called: the bundle dispatches its entries through this very table.
    from fhir_server.interactions import bundle

    return bundle.batch_or_transaction(req, ROUTES)


def capability_fields() -> dict[str, Any]:
    """What the CapabilityStatement says about interactions and operations, read from the table."""
    type_level = [c for r in ROUTES if r.pattern.startswith("{type}") for c in r.capabilities]
    system_level = [c for r in ROUTES if r.system_level for c in r.capabilities]
    return {
        "type_interactions": list(dict.fromkeys(type_level)),
        "system_interactions": list(dict.fromkeys(system_level)),
        "type_operations": type_operations(MODELS, READ_ONLY_TYPES),
    }


ROUTES = RouteTable(
    [
        *_core_routes(),
        *_operation_routes(),
        *_terminology_routes(),
        *_audit_routes(),
        *_subscription_routes(),
    ]
)

__all__ = ["BATCH_TRANSACTION", "ROUTES", "capability_fields", "operation"]
