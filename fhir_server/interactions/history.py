"""history: instance, type and system level (https://hl7.org/fhir/R4/http.html#history).

Newest first, `_count` and `_since`, paged with an opaque keyset cursor (`_page`) so that pages stay
correct while new versions are written. Deletions appear as entries with request.method DELETE and no
resource.
"""

from __future__ import annotations

import base64
from datetime import datetime
from urllib.parse import urlencode

import orjson

from fhir_server.core.context import RequestContext
from fhir_server.core.result import FhirResult
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.common import check_target
from fhir_server.params import parse_count, parse_instant
from fhir_server.resource_types import require_type
from fhir_server.storage.mongo import format_instant
from fhir_server.storage.repository import HistoryCursor, Repository, ResourceVersion

_STATUS = {"POST": "201 Created", "PUT": "200 OK", "PATCH": "200 OK", "DELETE": "204 No Content"}


def history(
    repository: Repository,
    ctx: RequestContext,
    query: dict[str, str],
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    default_count: int,
    max_count: int,
) -> FhirResult:
    if resource_type is not None and resource_id is not None:
        check_target(resource_type, resource_id)
        if repository.read(resource_type, resource_id) is None:
            raise FhirError(Problem.NOT_FOUND, f"{resource_type}/{resource_id} does not exist")
    elif resource_type is not None:
        require_type(resource_type)
    count = parse_count(query.get("_count"), default_count, max_count)
    since = parse_instant(query["_since"], "_since") if "_since" in query else None
    cursor = _decode_cursor(query["_page"]) if "_page" in query else None
    page = repository.history(
        resource_type=resource_type, resource_id=resource_id, since=since, count=count, cursor=cursor
    )
    path = "/".join(p for p in (resource_type, resource_id, "_history") if p)
    params = {"_count": str(count)}
    if "_since" in query:
        params["_since"] = query["_since"]
    links = [
        {
            "relation": "self",
            "url": _url(ctx, path, {**params, **({"_page": query["_page"]} if cursor else {})}),
        }
    ]
    if page.next_cursor is not None:
        links.append(
            {
                "relation": "next",
                "url": _url(ctx, path, {**params, "_page": _encode_cursor(page.next_cursor)}),
            }
        )
    bundle = {
        "resourceType": "Bundle",
        "type": "history",
        "total": page.total,
        "link": links,
        "entry": [_entry(ctx, v) for v in page.entries],
    }
    return FhirResult(resource=bundle)


def _entry(ctx: RequestContext, version: ResourceVersion) -> dict[str, object]:
    entry: dict[str, object] = {"fullUrl": ctx.url(version.resource_type, version.id)}
    if version.resource is not None:
        entry["resource"] = version.resource
    url = version.resource_type if version.method == "POST" else f"{version.resource_type}/{version.id}"
    entry["request"] = {"method": version.method, "url": url}
    entry["response"] = {
        "status": _STATUS[version.method],
        "etag": version.etag,
        "lastModified": format_instant(version.last_updated),
    }
    return entry


def _url(ctx: RequestContext, path: str, params: dict[str, str]) -> str:
    return f"{ctx.url(path)}?{urlencode(params)}"


def _encode_cursor(cursor: HistoryCursor) -> str:
    raw = orjson.dumps([cursor.last_updated.isoformat(), cursor.resource_type, cursor.key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(token: str) -> HistoryCursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        moment, resource_type, key = orjson.loads(raw)
        return HistoryCursor(datetime.fromisoformat(moment), str(resource_type), str(key))
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise FhirError(
            Problem.INVALID, "Invalid _page token: use the next link of the previous page", ["_page"]
        ) from None
