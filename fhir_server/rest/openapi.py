"""The OpenAPI description of the server, with its /fhir part generated from the route table.

Every row of `ROUTES` (method, pattern, interaction; operations from rest/data/operations.json) becomes one
operation per resource type it serves — `GET /fhir/Patient/{id}` "read Patient", `POST
/fhir/Patient/$merge` "$merge" — with the statuses the server really answers (fhir_server/errors.py: every
error is an OperationOutcome), its conditional headers, the search parameters of the type (the same data
the CapabilityStatement lists) and whether it needs a token (the bearer check's RULES). Nothing here reads
how FHIR requests reach their handlers over HTTP, so the description stays right however they are
dispatched.

`complete(document, …)` adds that part to the description of the server's other routes (made by the web
framework), declares the SMART authorization (authorization code + PKCE S256) as the security scheme, and
replaces the framework's 422 "validation error" responses — which this server never sends: a malformed
request is a 400 OperationOutcome — by the statuses it does send.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from fhir_server.core.routing import Route, RouteTable
from fhir_server.interactions.terminology_operations import READ_ONLY_TYPES, SEARCH_PARAMETER_TYPES
from fhir_server.resource_types import MODELS
from fhir_server.rest.operations import operation
from fhir_server.search.capability import search_parameters
from fhir_server.security.enforcement.bearer import PUBLIC, protection_of
from fhir_server.security.oauth.urls import Urls
from fhir_server.settings import Settings

JsonObject = dict[str, Any]

PREFIX = "/fhir"
SCHEME = "smart"
FHIR_JSON = "application/fhir+json"
SPEC = "https://hl7.org/fhir/R4/http.html"
OPERATIONS_SPEC = "https://hl7.org/fhir/R4/operations.html"
SCOPES = {
    "openid": "OpenID Connect: an id_token naming the user",
    "fhirUser": "the FHIR resource of the signed-in user",
    "launch/patient": "ask for a patient context (standalone launch)",
    "offline_access": "a refresh token (30 days)",
    "online_access": "a refresh token while the user is online (a working day)",
    "patient/*.rs": "read and search the launch patient's compartment",
    "patient/*.cruds": "all interactions within the launch patient's compartment",
    "user/*.rs": "read and search what the user may see",
    "user/*.cruds": "all interactions on what the user may see",
    "system/*.rs": "read and search everything (backend services)",
    "system/*.cruds": "all interactions on everything (backend services)",
    "admin": "administration: hospitals, users, clients, keys (admin users only)",
}

# What each interaction answers (besides the errors every protected route may answer: 401, 403).
_STATUSES: dict[str, tuple[int, ...]] = {
    "capabilities": (200, 406),
    "read": (200, 304, 400, 404, 406, 410),
    "vread": (200, 400, 404, 406, 410),
    "update": (200, 201, 400, 409, 412, 413, 415),
    "conditional-update": (200, 201, 400, 412, 413, 415),
    "patch": (200, 400, 404, 409, 410, 412, 413, 415, 422),  # 422: a JSON Patch that cannot be applied
    "delete": (200, 204, 404, 409),
    "conditional-delete": (200, 204, 400, 412),
    "create": (200, 201, 400, 412, 413, 415),
    "search-type": (200, 400, 406),
    "history-instance": (200, 400, 404, 410),
    "history-type": (200, 400),
    "history-system": (200, 400),
    "batch-transaction": (200, 400, 409, 412, 413, 415),
}
# 422: an operation's valid input that cannot be carried out (e.g. $merge of a patient into itself).
_OPERATION_STATUSES = {"GET": (200, 400, 404, 406), "POST": (200, 400, 404, 406, 409, 413, 415, 422)}
_REASONS = {
    200: "OK",
    201: "Created (Location and ETag headers)",
    204: "No content",
    304: "Not modified (If-None-Match / If-Modified-Since)",
    400: "Invalid request or resource (OperationOutcome; `expression` names the element at fault)",
    401: "No valid access token (WWW-Authenticate: Bearer)",
    403: "The token's scopes do not allow this interaction",
    404: "Not found, or not visible to this token",
    405: "Not allowed on this resource type",
    406: "Not acceptable: only FHIR JSON is served",
    409: "Conflict: changed concurrently, retry",
    410: "Gone: deleted",
    412: "Precondition failed (If-Match is stale, or conditional criteria matched several)",
    413: "Request body too large (FHIR_MAX_BODY_BYTES), or too many entries",
    415: "Unsupported media type: send FHIR JSON",
    422: "Unprocessable: the request is well-formed but cannot be applied",
}
_SUMMARIES = {
    "capabilities": "CapabilityStatement of this server",
    "read": "Read the current version",
    "vread": "Read one version",
    "update": "Update (or create with this id)",
    "conditional-update": "Conditional update (search criteria in the query)",
    "patch": "Patch with JSON Patch",
    "delete": "Delete",
    "conditional-delete": "Conditional delete (search criteria in the query)",
    "create": "Create (conditional with If-None-Exist)",
    "search-type": "Search",
    "history-instance": "History of one resource",
    "history-type": "History of every resource of the type",
    "history-system": "History of every resource",
    "batch-transaction": "Batch or transaction Bundle",
}
_SPEC_ANCHORS = {
    "capabilities": "capabilities",
    "search-type": "search",
    "batch-transaction": "transaction",
    "conditional-update": "cond-update",
    "conditional-delete": "cdelete",
    "history-instance": "history",
    "history-type": "history",
    "history-system": "history",
}
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")
_DESCRIPTIONS = {"id": "Logical id of the resource", "vid": "Version id (meta.versionId)"}


def fhir_paths(table: RouteTable, settings: Settings) -> JsonObject:
    """OpenAPI path items for every row of `table`, per resource type, under /fhir."""
    paths: JsonObject = {}
    for route in table:
        if route.interaction == "operation":
            continue  # the catch-all that answers an operation a type does not define (501)
        for resource_type, path in _concrete(route):
            full = PREFIX + (f"/{path}" if path else "")
            item = paths.setdefault(full, {})
            item[route.method.lower()] = _operation(route, resource_type, full, settings)
    return dict(sorted(paths.items()))


def _concrete(route: Route) -> list[tuple[str | None, str]]:
    """(resource type, path) for each type a row serves: `{type}` becomes each stored type; feature rows'
    own parameter names (`{patient_id}`) become `{id}`."""
    pattern = re.sub(r"\{(patient_id|study_id)\}", "{id}", route.pattern)
    first = pattern.split("/", 1)[0]
    if first == "{type}":
        op = route.interaction.removeprefix("$") if route.interaction.startswith("$") else None
        types = [t for t in MODELS if op is None or operation(op, t).applies_to(t, MODELS)]
        return [(t, t + pattern.removeprefix("{type}")) for t in types]
    return [(first if first[:1].isupper() else None, pattern)]


def _operation(route: Route, resource_type: str | None, full_path: str, settings: Settings) -> JsonObject:
    is_op = route.interaction.startswith("$")
    name = route.interaction
    summary = f"{name} ({resource_type})" if is_op and resource_type else name
    if not is_op:
        summary = f"{name}: {_SUMMARIES.get(name, name)}" + (f" {resource_type}" if resource_type else "")
    if is_op:
        statuses = _OPERATION_STATUSES.get(route.method, (200, 400))
    else:
        statuses = _STATUSES.get(route.interaction, (200, 400))
    if _refused(route, resource_type):
        statuses = (405,)
    protected = protection_of(route.method, full_path) is not PUBLIC
    if protected:
        statuses = (*statuses, 401, 403)
    op: JsonObject = {
        "tags": [resource_type or "System"],
        "summary": summary,
        "description": _description(route, resource_type),
        "operationId": _operation_id(route, resource_type, full_path),
        "parameters": [*_path_parameters(full_path), *_query_parameters(route, resource_type)],
        "responses": {str(s): _response(s, route) for s in sorted(set(statuses))},
        "security": [{SCHEME: []}] if protected else [],
    }
    if body := _request_body(route, resource_type):
        op["requestBody"] = body
    if not op["parameters"]:
        del op["parameters"]
    return op


def _refused(route: Route, resource_type: str | None) -> bool:
    """Rows that only say no: writes to the shipped terminology and to AuditEvent."""
    write = route.method in ("POST", "PUT", "PATCH", "DELETE") and not route.interaction.startswith("$")
    return write and resource_type in (*READ_ONLY_TYPES, "AuditEvent")


def _description(route: Route, resource_type: str | None) -> str:
    if route.interaction.startswith("$"):
        name = route.interaction.removeprefix("$")
        definition = operation(name, resource_type).definition
        return f"FHIR operation `{route.interaction}` ({definition}; {OPERATIONS_SPEC})."
    if _refused(route, resource_type):
        return f"Not allowed: {resource_type} is read-only here (405, OperationOutcome)."
    anchor = _SPEC_ANCHORS.get(route.interaction, route.interaction)
    text = f"FHIR interaction `{route.interaction}` ({SPEC}#{anchor})."
    if route.permission is not None:
        text += " Answers only what the access token may see; anything else is 404, as if absent."
    return text


def _operation_id(route: Route, resource_type: str | None, full_path: str) -> str:
    if route.interaction.startswith("$"):
        level = "instance" if "{id}" in full_path else "type" if resource_type else "system"
        base = f"{route.interaction.removeprefix('$')}-{level}"
    else:
        base = route.interaction
    suffix = "_search" if full_path.endswith("/_search") else ""
    return "-".join(p for p in (base + suffix, resource_type, route.method.lower()) if p)


def _path_parameters(full_path: str) -> list[JsonObject]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": _DESCRIPTIONS.get(name, name),
            "schema": {"type": "string", "pattern": r"^[A-Za-z0-9\-.]{1,64}$"},
        }
        for name in _PATH_PARAMETER.findall(full_path)
    ]


def _header(name: str, description: str) -> JsonObject:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def _query_parameters(route: Route, resource_type: str | None) -> list[JsonObject]:
    interaction = route.interaction
    params: list[JsonObject] = []
    if interaction == "search-type" and route.method == "GET":
        params += _search_parameters(resource_type)
    if interaction in ("history-instance", "history-type", "history-system"):
        params += [
            _query("_since", "Only versions changed after this instant", "string"),
            _query("_count", "Versions per page", "integer"),
        ]
    if interaction == "read":
        params += [
            _header("If-None-Match", 'The ETag you have (W/"n"): 304 when unchanged'),
            _header("If-Modified-Since", "304 when unchanged since"),
        ]
    if interaction in ("update", "patch", "delete") and not _refused(route, resource_type):
        params.append(_header("If-Match", 'Optimistic locking: the ETag you read (W/"n"); 412 if stale'))
    if interaction == "create" and not _refused(route, resource_type):
        params.append(_header("If-None-Exist", "Conditional create: search criteria (200 when one matches)"))
    writes = ("create", "update", "patch", "conditional-update", "batch-transaction")
    if interaction in writes and not _refused(route, resource_type):
        params.append(_header("Prefer", "return=minimal | return=representation | return=OperationOutcome"))
    return params


def _query(name: str, description: str, kind: str = "string") -> JsonObject:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": kind},
    }


def _search_parameters(resource_type: str | None) -> list[JsonObject]:
    if resource_type in READ_ONLY_TYPES:
        declared = [{"name": n, "type": t, "documentation": ""} for n, t in SEARCH_PARAMETER_TYPES]
    else:
        declared = search_parameters().get(resource_type or "", [])
    params = [
        _query(p["name"], f"{p['type']} search parameter. {p.get('documentation') or ''}".strip())
        for p in declared
    ]
    params += [
        _query("_count", "Matches per page", "integer"),
        _query("_sort", "Sort order, e.g. -_lastUpdated"),
        _query("_include", "Include referenced resources, e.g. ImagingStudy:patient"),
        _query("_revinclude", "Include resources that refer to the matches"),
        _query("_summary", "count: only the total"),
        _query("_total", "accurate: count every match"),
    ]
    return list({p["name"]: p for p in reversed(params)}.values())[::-1]  # each name once, first wins


def _request_body(route: Route, resource_type: str | None) -> JsonObject | None:
    if route.method not in ("POST", "PUT", "PATCH") or _refused(route, resource_type):
        return None
    if route.interaction == "patch":
        return {
            "required": True,
            "content": {
                "application/json-patch+json": {"schema": {"$ref": "#/components/schemas/JsonPatch"}}
            },
        }
    if route.interaction == "search-type":  # POST _search: the parameters as a form
        return {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}
    schema = "Bundle" if route.interaction == "batch-transaction" else "Resource"
    if route.interaction.startswith("$"):
        schema = "Parameters"
    return {"required": True, "content": {FHIR_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _response(status: int, route: Route) -> JsonObject:
    response: JsonObject = {"description": _REASONS.get(status, "")}
    if status in (204, 304):
        return response
    if route.interaction == "$shl-qr" and status < 400:
        return {**response, "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}
    bundles = route.interaction in ("search-type", "batch-transaction") or route.interaction.startswith(
        "history"
    )
    schema = "OperationOutcome" if status >= 400 else "Bundle" if bundles else "Resource"
    return {**response, "content": {FHIR_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


SCHEMAS: JsonObject = {
    "Resource": {
        "type": "object",
        "description": "A FHIR R4 resource (https://hl7.org/fhir/R4/resourcelist.html)",
        "required": ["resourceType"],
        "properties": {
            "resourceType": {"type": "string"},
            "id": {"type": "string"},
            "meta": {"type": "object"},
        },
        "additionalProperties": True,
    },
    "Bundle": {
        "type": "object",
        "description": "https://hl7.org/fhir/R4/bundle.html",
        "required": ["resourceType", "type"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Bundle"]},
            "type": {"type": "string"},
            "total": {"type": "integer"},
            "link": {"type": "array", "items": {"type": "object"}},
            "entry": {"type": "array", "items": {"type": "object"}},
        },
        "additionalProperties": True,
    },
    "Parameters": {
        "type": "object",
        "description": "https://hl7.org/fhir/R4/parameters.html",
        "required": ["resourceType"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Parameters"]},
            "parameter": {"type": "array", "items": {"type": "object"}},
        },
        "additionalProperties": True,
    },
    "OperationOutcome": {
        "type": "object",
        "description": "Every error of this server (https://hl7.org/fhir/R4/operationoutcome.html)",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
            "issue": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "severity": {"type": "string"},
                        "code": {"type": "string"},
                        "diagnostics": {"type": "string"},
                        "expression": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
    "JsonPatch": {
        "type": "array",
        "description": "RFC 6902 JSON Patch",
        "items": {
            "type": "object",
            "required": ["op", "path"],
            "properties": {
                "op": {"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
                "path": {"type": "string"},
                "from": {"type": "string"},
                "value": {},
            },
        },
    },
}


def security_scheme(settings: Settings) -> JsonObject:
    urls = Urls.for_settings(settings)
    return {
        "type": "oauth2",
        "description": (
            "SMART App Launch 2.2: authorization code with PKCE (S256 only), `aud` = the FHIR base "
            f"({urls.fhir_base}); backend services use client_credentials with private_key_jwt. "
            f"Discovery: {urls.fhir_base}/.well-known/smart-configuration"
        ),
        "flows": {
            "authorizationCode": {
                "authorizationUrl": urls.authorize,
                "tokenUrl": urls.token,
                "refreshUrl": urls.token,
                "scopes": SCOPES,
            }
        },
    }


def complete(document: JsonObject, table: RouteTable, settings: Settings) -> JsonObject:
    """`document` (the server's other routes, without any under /fhir) with the FHIR API added, the
    security scheme declared and applied, and the framework's 422 responses replaced by what is sent."""
    paths: JsonObject = {
        p: item
        for p, item in document.get("paths", {}).items()
        if p != PREFIX and not p.startswith(PREFIX + "/")
    }
    for path, item in paths.items():
        for method, op in item.items():
            _fix_framework_operation(method, path, op)
    paths.update(fhir_paths(table, settings))
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(SCHEMAS)
    components["securitySchemes"] = {SCHEME: security_scheme(settings)}
    if not schemas:
        components.pop("schemas")
    document["paths"] = paths
    document["servers"] = [{"url": Urls.for_settings(settings).fhir_base.removesuffix(PREFIX) or "/"}]
    document["tags"] = _tags(paths.values())
    _unique_operation_ids(paths)
    return document


def _fix_framework_operation(method: str, path: str, op: JsonObject) -> None:
    responses: JsonObject = op.setdefault("responses", {})
    if responses.pop("422", None) is not None:
        responses["400"] = {
            "description": _REASONS[400],
            "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}},
        }
    protected = protection_of(method.upper(), path) is not PUBLIC
    if protected:
        for status in (401, 403):
            responses.setdefault(
                str(status),
                {
                    "description": _REASONS[status],
                    "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}},
                },
            )
    op["security"] = [{SCHEME: []}] if protected else []


def _unique_operation_ids(paths: Mapping[str, JsonObject]) -> None:
    """A route with several methods gets one id from the framework: each operation needs its own."""
    seen: set[str] = set()
    for item in paths.values():
        for method, op in item.items():
            op_id = op.get("operationId")
            if op_id is None:
                continue
            if op_id in seen:
                op_id = f"{op_id}_{method}"
                op["operationId"] = op_id
            seen.add(op_id)


def _tags(items: Iterable[JsonObject]) -> list[JsonObject]:
    names = dict.fromkeys(tag for item in items for op in item.values() for tag in op.get("tags", []))
    fhir_types = [*MODELS, *READ_ONLY_TYPES, "AuditEvent"]
    described = {t: f"FHIR {t}: interactions and operations under {PREFIX}/{t}" for t in fhir_types}
    described["System"] = f"FHIR system-level interactions at {PREFIX}"
    return [{"name": n, "description": described[n]} if n in described else {"name": n} for n in names]
