"""The FHIR interactions of subscriptions, as handlers of rows of the route table (fhir_server.rest.routes):
create, read, update, delete and search of `Subscription`; `$status`, `$events` and
`$get-ws-binding-token` on one; read and search of `SubscriptionTopic`.

A subscription is its creator's: only they (the same user through the same client) and administrators see
or change it; anyone else gets 404, as for one that does not exist. What it may ask for is bounded by the
creator's scopes: a token that may not search the topic's resource type gets 403, and a token confined to
one patient (a patient app, `patient/` scopes) must filter on exactly that patient.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir_server.core.negotiation import check_request_body_type
from fhir_server.core.request import FhirRequest
from fhir_server.core.result import FhirResult
from fhir_server.errors import FhirError, Problem
from fhir_server.resource_types import ID_PATTERN, require_valid_id
from fhir_server.security.access.store import SecuredStore, store_for
from fhir_server.security.enforcement.policy import AccessContext, search_confinement
from fhir_server.subscriptions.components import Subscriptions
from fhir_server.subscriptions.endpoints import check_endpoint
from fhir_server.subscriptions.notifications import notification_bundle, status_parameters
from fhir_server.subscriptions.owner import Owner
from fhir_server.subscriptions.spec import SubscriptionSpec, parse_subscription
from fhir_server.subscriptions.topics import TOPICS_BY_ID
from fhir_server.type_aliases import Document, JsonObject
from fhir_server.validation import check_resource_shape, parse_json

RESOURCE_TYPE = "Subscription"
TOPIC_TYPE = "SubscriptionTopic"
WS_TOKEN_SECONDS = 60
MAX_EVENTS_PER_QUERY = 500


def _subscriptions(req: FhirRequest) -> Subscriptions:
    components: Subscriptions = req.components.subscriptions
    return components


def _access(req: FhirRequest) -> AccessContext:
    return req.store.access


# -- Subscription CRUD ----------------------------------------------------------------------------------


def create(req: FhirRequest) -> FhirResult:
    data = _body(req)
    if "id" in data:
        data = {k: v for k, v in data.items() if k != "id"}  # the server assigns ids on create
    access = _access(req)
    spec = _checked(req, data)
    doc = _subscriptions(req).state.create(Owner.of(access), spec, data)
    _subscriptions(req).dispatcher.wake()
    return _result(req, doc, 201, location=True)


def read(req: FhirRequest) -> FhirResult:
    return _result(req, _owned(req))


def update(req: FhirRequest) -> FhirResult:
    current = _owned(req)
    data = _body(req)
    if data.get("id") != req.id:
        raise FhirError(
            Problem.INVALID, f"The resource id must be '{req.id}', as in the URL", [f"{RESOURCE_TYPE}.id"]
        )
    # The owner stays the creator: an administrator changing it does not take it over.
    spec = _checked(req, data, Owner.from_doc(current.get("owner")))
    replaced = _subscriptions(req).state.replace(current, spec, data)
    if replaced is None:
        raise FhirError(Problem.CONFLICT, "The subscription changed meanwhile; read it and try again")
    _subscriptions(req).dispatcher.wake()
    return _result(req, replaced)


def delete(req: FhirRequest) -> FhirResult:
    _owned(req)
    _subscriptions(req).state.delete(req.id)
    return FhirResult(204)


def search(req: FhirRequest) -> FhirResult:
    access = _access(req)
    params = dict(req.query)
    unknown = sorted(set(params) - {"status", "_count", "_format"})
    if unknown:
        raise FhirError(
            Problem.INVALID, f"Unknown search parameter '{unknown[0]}' for Subscription", [unknown[0]]
        )
    owner_key = None if access.is_admin else Owner.of(access).key
    docs = _subscriptions(req).state.owned_by(owner_key)
    if status := params.get("status"):
        docs = [d for d in docs if d["status"] in status.split(",")]
    return FhirResult(resource=_searchset(req, [_resource(d) for d in docs], RESOURCE_TYPE))


# -- operations -----------------------------------------------------------------------------------------


def status(req: FhirRequest) -> FhirResult:
    doc = _owned(req)
    parameters = status_parameters(doc, req.base_url, "query-status")
    return FhirResult(resource=_searchset(req, [parameters], "Parameters", full_urls=False))


def events(req: FhirRequest) -> FhirResult:
    """`$events`: the recorded events by number (eventsSinceNumber, eventsUntilNumber, content), for a
    client that missed some."""
    doc = _owned(req)
    params = dict(req.query)
    since = _number(params.get("eventsSinceNumber"), "eventsSinceNumber") or 1
    until = _number(params.get("eventsUntilNumber"), "eventsUntilNumber")
    content = params.get("content")
    if content is not None:
        if content not in ("empty", "id-only", "full-resource"):
            raise FhirError(Problem.INVALID, f"Unknown content '{content}'", ["content"])
        doc = {**doc, "content": content}
    subs = _subscriptions(req)
    found = subs.state.events(doc["_id"], since, until, MAX_EVENTS_PER_QUERY)
    bundle = notification_bundle(doc, req.base_url, "query-event", found, subs.dispatcher.read_focus(doc))
    return FhirResult(resource=bundle)


def ws_binding_token(req: FhirRequest) -> FhirResult:
    doc = _owned(req)
    if doc["channel"] != "websocket":
        raise FhirError(
            Problem.INVALID, "Only a websocket subscription can be bound to a websocket", ["channel.type"]
        )
    subs = _subscriptions(req)
    token, expires = subs.state.binding_token([doc["_id"]], doc["owner_key"], WS_TOKEN_SECONDS)
    origin = req.base_url.rsplit("/", 1)[0]
    ws_origin = (
        "wss://" + origin.removeprefix("https://")
        if origin.startswith("https://")
        else ("ws://" + origin.removeprefix("http://"))
    )
    parameters = [
        {"name": "token", "valueString": token},
        {"name": "expiration", "valueDateTime": expires.isoformat(timespec="seconds").replace("+00:00", "Z")},
        {"name": "subscription", "valueString": f"{req.base_url}/Subscription/{doc['_id']}"},
        {"name": "websocket-url", "valueUrl": f"{ws_origin}{WEBSOCKET_PATH}"},
    ]
    return FhirResult(resource={"resourceType": "Parameters", "parameter": parameters})


# -- SubscriptionTopic ----------------------------------------------------------------------------------


def topic_search(req: FhirRequest) -> FhirResult:
    topics = [t.resource() for t in TOPICS_BY_ID.values()]
    if url := dict(req.query).get("url"):
        topics = [t for t in topics if t["url"] == url]
    return FhirResult(resource=_searchset(req, topics, TOPIC_TYPE))


def topic_read(req: FhirRequest) -> FhirResult:
    topic = TOPICS_BY_ID.get(req.id)
    if topic is None:
        raise FhirError(Problem.NOT_FOUND, f"SubscriptionTopic/{req.id[:80]} is not known")
    return FhirResult(resource=topic.resource())


# -- helpers --------------------------------------------------------------------------------------------

WEBSOCKET_PATH = "/subscriptions/websocket"


def _body(req: FhirRequest) -> JsonObject:
    check_request_body_type(req.header("content-type"))
    return check_resource_shape(parse_json(req.body), RESOURCE_TYPE)


def _checked(req: FhirRequest, data: JsonObject, owner: Owner | None = None) -> SubscriptionSpec:
    """The subscription `data` asks for, within what its owner (the caller, unless given) may see."""
    spec = parse_subscription(data)
    settings = req.services.settings
    if spec.channel == "rest-hook" and spec.endpoint is not None:
        check_endpoint(spec.endpoint, settings.subscription_allowed_hosts)
    store = req.store if owner is None else store_for(req.components, owner.access)
    _within_scopes(spec, store)
    _patients_readable(store, spec)
    return spec


def _patients_readable(store: SecuredStore, spec: SubscriptionSpec) -> None:
    """A `patient` filter names Patients the caller may read: one it may not see is refused exactly like
    one that does not exist (no existence oracle), and a subscription never names a patient its owner
    could not look up."""
    for value in spec.filters.get("patient") or []:
        kind, _, patient_id = value.rpartition("/")
        found = (
            store.read("Patient", patient_id)
            if kind in ("", "Patient") and ID_PATTERN.match(patient_id)
            else None
        )
        if found is None or found.deleted:
            raise FhirError(
                Problem.INVALID,
                f"Filter patient={value[:80]}: no such Patient",
                ["Subscription.criteria.extension"],
            )


def _within_scopes(spec: SubscriptionSpec, store: SecuredStore) -> None:
    """The filters must not ask for more than the creator may search: some scope must grant search on the
    topic's type (scopes with filters, such as `?modality=CT`, are applied to each event), and a token
    confined to one patient must filter on that patient."""
    resource_type = spec.topic.resource_type
    if not store.may("search", resource_type):
        raise FhirError(
            Problem.FORBIDDEN,
            f"The access token's scopes do not allow search on {resource_type}, "
            f"which the topic {spec.topic.url} notifies about",
        )
    confined = search_confinement(store.access, resource_type)
    if not isinstance(confined, str):
        return
    wanted = spec.filters.get("patient") or []
    if not wanted or any(w.rpartition("/")[2] != confined for w in wanted):
        raise FhirError(
            Problem.FORBIDDEN,
            f"This access token is limited to Patient/{confined}: the subscription must filter on "
            f"patient=Patient/{confined}",
            ["Subscription.criteria"],
        )


def _owned(req: FhirRequest) -> Document:
    require_valid_id(req.id)
    doc = _subscriptions(req).state.get(req.id)
    owner = Owner.from_doc(doc.get("owner")) if doc is not None else None
    if doc is None or owner is None or not owner.may_manage(_access(req)):
        raise FhirError(Problem.NOT_FOUND, f"Subscription/{req.id} is not known")
    return doc


def _resource(doc: Document) -> JsonObject:
    resource: JsonObject = dict(doc["resource"])
    resource["status"] = doc["status"]
    if doc.get("error") and doc["status"] == "error":
        resource["error"] = str(doc["error"])  # R4: the error as text
    return resource


def _result(req: FhirRequest, doc: Document, status_code: int = 200, *, location: bool = False) -> FhirResult:
    resource = _resource(doc)
    headers = {"ETag": f'W/"{doc["version"]}"'}
    if location:
        headers["Location"] = f"{req.base_url}/{RESOURCE_TYPE}/{doc['_id']}/_history/{doc['version']}"
    return FhirResult(status_code, resource, headers)


def _searchset(
    req: FhirRequest, resources: list[JsonObject], kind: str, *, full_urls: bool = True
) -> JsonObject:
    entries: list[dict[str, Any]] = []
    for resource in resources:
        entry: dict[str, Any] = {"resource": resource, "search": {"mode": "match"}}
        if full_urls:
            entry["fullUrl"] = f"{req.base_url}/{kind}/{resource['id']}"
        entries.append(entry)
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "total": len(entries),
        "link": [{"relation": "self", "url": f"{req.base_url}/{req.path}"}],
        "entry": entries,
    }


def _number(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise FhirError(Problem.INVALID, f"{name} must be a whole number", [name])
    return int(value)
