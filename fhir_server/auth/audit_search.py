"""`GET [base]/AuditEvent?…`: a small dedicated search over the audit collection, for admins.

Parameters (all optional, combined with AND; a repeated parameter is AND-ed too, as in FHIR search):
- `date` — `recorded`, with prefix eq (whole given precision), ge, gt, le, lt: `date=ge2024-05-01T00:00:00Z`
- `agent` — user name, client id or fhirUser reference (`Patient/123`) of the one who acted
- `entity` — a reference the event is about (`ImagingStudy/1`, `Patient/7`)
- `patient` — a patient id (or `Patient/id`) whose data the event concerns
- `type` — event type or subtype code, with or without system: `rest`, `110114` (token issued or refused),
  `110113` (access denied), `read`, `create`, …
- `outcome` — 0 success, 4 refused / minor failure, 8 serious failure
- `_count` (default and maximum from the page-size settings), `_offset` for the next pages.
Newest first. Unknown parameters are an error (400), so a typo never widens the result silently.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fhir_server.errors import FhirError, Problem
from fhir_server.params import parse_count, parse_instant, parse_non_negative

_ALLOWED = {
    "date",
    "agent",
    "entity",
    "patient",
    "type",
    "outcome",
    "_count",
    "_offset",
    "_format",
    "_pretty",
}
_RANGE = {"ge": "$gte", "gt": "$gt", "le": "$lte", "lt": "$lt"}


def audit_query(params: list[tuple[str, str]]) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = []
    for name, value in params:
        if name not in _ALLOWED:
            raise FhirError(Problem.INVALID, f"Unknown AuditEvent search parameter {name!r}", [name])
        if name == "date":
            clauses.append(_date_clause(value))
        elif name == "agent":
            clauses.append({"agents": value})
        elif name == "entity":
            clauses.append({"entities": value})
        elif name == "patient":
            clauses.append({"patients": value.removeprefix("Patient/")})
        elif name == "type":
            clauses.append({"types": value})
        elif name == "outcome":
            clauses.append({"outcome": value})
    return {"$and": clauses} if clauses else {}


def _date_clause(value: str) -> dict[str, Any]:
    prefix, rest = (value[:2], value[2:]) if value[:2] in (*_RANGE, "eq") else ("eq", value)
    moment = parse_instant(rest, "date")
    if prefix != "eq":
        return {"ts": {_RANGE[prefix]: moment}}
    return {"ts": {"$gte": moment, "$lt": _end_of_precision(rest, moment)}}


def _end_of_precision(text: str, start: datetime) -> datetime:
    """The end of the period a date of this precision denotes (https://hl7.org/fhir/R4/search.html#date)."""
    if len(text) == 4:
        return start.replace(year=start.year + 1)
    if len(text) == 7:
        return (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
    if len(text) == 10:
        return start + timedelta(days=1)
    return start + (timedelta(seconds=1) if text.count(":") >= 2 else timedelta(minutes=1))


def search_bundle(
    collection: Any, params: list[tuple[str, str]], base_url: str, default_count: int, max_count: int
) -> dict[str, Any]:
    query = audit_query(params)
    single = dict(params)
    count = parse_count(single.get("_count"), default_count, max_count)
    offset = parse_non_negative(single.get("_offset", "0"), "_offset")
    total = collection.count_documents(query)
    docs = list(collection.find(query, {"res": 1}).sort([("ts", -1), ("_id", -1)]).skip(offset).limit(count))
    kept = [(k, v) for k, v in params if k not in ("_offset", "_count")] + [("_count", str(count))]
    links = [{"relation": "self", "url": f"{base_url}/AuditEvent?{urlencode([*kept, ('_offset', offset)])}"}]
    if offset + count < total:
        links.append(
            {
                "relation": "next",
                "url": f"{base_url}/AuditEvent?{urlencode([*kept, ('_offset', offset + count)])}",
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base_url}/AuditEvent/{d['res']['id']}",
                "resource": d["res"],
                "search": {"mode": "match"},
            }
            for d in docs
        ],
    }
