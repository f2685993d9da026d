"""Building the searchset Bundle (https://hl7.org/fhir/R4/bundle.html#searchset)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from fhir_server.core.context import RequestContext
from fhir_server.errors import Issue, operation_outcome

Links = Sequence[tuple[str, Sequence[tuple[str, str]]]]


def entry(ctx: RequestContext, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": ctx.url(resource["resourceType"], resource["id"]),
        "resource": resource,
        "search": {"mode": mode},
    }


def outcome_entry(issues: Sequence[Issue]) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": operation_outcome(issues),
        "search": {"mode": "outcome"},
    }


def link(ctx: RequestContext, path: str, params: Sequence[tuple[str, str]]) -> str:
    url = ctx.url(path)
    return f"{url}?{urlencode(list(params))}" if params else url


def searchset(
    ctx: RequestContext, path: str, links: Links, entries: list[dict[str, Any]], total: int | None
) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = [{"relation": relation, "url": link(ctx, path, params)} for relation, params in links]
    bundle["entry"] = entries
    return bundle
