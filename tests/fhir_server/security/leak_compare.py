"""Requests of the leak matrix and how their answers are compared.

Two answers "reveal nothing" when, after each request's own target values are replaced by placeholders
(an error message may echo the id it was asked for), they have the same status, the same body and the same
headers. Only what differs between any two requests anyway is ignored: the date, the request id, the body
length (which the echoed id's length changes) and server-made UUIDs and instants inside bodies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import orjson

# Headers that differ between any two requests, or with the echoed id's length alone.
VOLATILE_HEADERS = frozenset({"date", "x-request-id", "content-length", "transfer-encoding"})
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_INSTANT = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
_HTTP_DATE = re.compile(rb"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
MAX_SHOWN = 600


@dataclass(frozen=True)
class Req:
    method: str
    path: str  # from the server's origin, with its query string
    json: Any = None
    form: tuple[tuple[str, str], ...] | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def text(self) -> str:
        """Everything the request says, to find which target values it names."""
        parts = [self.path, repr(self.json), repr(self.form), repr(self.headers)]
        return " ".join(parts)

    def send(self, http: httpx.Client) -> httpx.Response:
        kwargs: dict[str, Any] = {"headers": dict(self.headers)}
        if self.json is not None:
            kwargs["content"] = orjson.dumps(self.json)
            kwargs["headers"].setdefault("Content-Type", "application/fhir+json")
        elif self.form is not None:
            kwargs["data"] = dict(self.form)
        return http.request(self.method, self.path, **kwargs)


def get(path: str, *headers: tuple[str, str]) -> Req:
    return Req("GET", path, headers=headers)


@dataclass
class Observation:
    """An answer with the request's target values replaced by placeholders."""

    status: int
    body: bytes
    headers: dict[str, str]
    raw: bytes = field(repr=False, default=b"")

    @property
    def summary(self) -> str:
        return f"{self.status} {self.body[:MAX_SHOWN].decode('utf-8', 'replace')}"


def forms(value: str) -> set[str]:
    """How a value may appear in a request or an answer: as is, percent-encoded, or (a date) as DICOM's
    YYYYMMDD."""
    found = {value, quote(value, safe=""), quote(value)}
    if _DATE.fullmatch(value):
        found.add(value.replace("-", ""))
    return found


def observe(response: httpx.Response, replacements: dict[str, str]) -> Observation:
    """`replacements`: target value -> placeholder, for the values the request named."""
    body = response.content
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in VOLATILE_HEADERS}
    # Longest first, so that a value containing another (an id inside a reference) goes whole.
    pairs = [(form, placeholder) for value, placeholder in replacements.items() for form in forms(value)]
    for form, placeholder in sorted(pairs, key=lambda pair: -len(pair[0])):
        body = body.replace(form.encode(), placeholder.encode())
        headers = {k: v.replace(form, placeholder) for k, v in headers.items()}
    body = _HTTP_DATE.sub(b"<date>", _INSTANT.sub(b"<instant>", _UUID.sub(b"<uuid>", body)))
    # Last-Modified of a resource made by the request itself is the second it was made.
    headers = {
        k: _HTTP_DATE.sub(b"<date>", _UUID.sub(b"<uuid>", v.encode())).decode() for k, v in headers.items()
    }
    return Observation(response.status_code, _canonical(body, headers), headers, response.content)


def _canonical(body: bytes, headers: dict[str, str]) -> bytes:
    """JSON bodies re-serialized with sorted keys, so that key order alone is no difference."""
    if "json" in headers.get("content-type", ""):
        try:
            return orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
        except orjson.JSONDecodeError:
            return body
    return body


def differences(hidden: Observation, absent: Observation) -> list[str]:
    """What tells the hidden target's answer from the absent target's; empty when nothing does."""
    found = []
    if hidden.status != absent.status:
        found.append(f"status {hidden.status} (other patient's) vs {absent.status} (absent)")
    names = set(hidden.headers) ^ set(absent.headers)
    if names:
        found.append(
            f"header names differ: only other's {sorted(set(hidden.headers) - set(absent.headers))}, "
            f"only absent's {sorted(set(absent.headers) - set(hidden.headers))}"
        )
    for name in sorted(set(hidden.headers) & set(absent.headers)):
        if hidden.headers[name] != absent.headers[name]:
            found.append(f"header {name}: {hidden.headers[name]!r} vs {absent.headers[name]!r}")
    if hidden.body != absent.body:
        mine, theirs = _excerpt(hidden.body, absent.body), _excerpt(absent.body, hidden.body)
        found.append(f"body: other's {mine} | absent's {theirs}")
    return found


def _excerpt(body: bytes, other: bytes) -> str:
    """The part of `body` from a little before its first difference with `other`."""
    start = next(
        (i for i, (a, b) in enumerate(zip(body, other, strict=False)) if a != b), min(len(body), len(other))
    )
    start = max(0, start - 80)
    text = body[start : start + 240].decode("utf-8", "replace")
    return f"…{text}…" if start else f"{text}…"


def leaked(observation: Observation, fingerprints: dict[str, str]) -> list[str]:
    """The hidden fingerprints present in an answer (after the request's own values were replaced)."""
    return sorted(
        f"{value!r} ({owner})" for value, owner in fingerprints.items() if value.encode() in observation.body
    )


def inconsistent_total(observation: Observation) -> str | None:
    """A searchset whose `total` is not the number of its matches although it has no next page counts
    something it does not show."""
    if "json" not in observation.headers.get("content-type", "") or observation.status != 200:
        return None
    try:
        body = orjson.loads(observation.raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle" or body.get("type") != "searchset":
        return None
    if "total" not in body or any(link.get("relation") == "next" for link in body.get("link", [])):
        return None
    if any(p[0] == "_summary" for p in _query_pairs(body)):
        return None  # _summary=count: a total without entries
    matches = sum(1 for e in body.get("entry", []) if e.get("search", {}).get("mode", "match") == "match")
    if body["total"] != matches:
        return f"searchset total {body['total']} but {matches} matches shown on its only page"
    return None


def _query_pairs(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    for link in bundle.get("link", []):
        if link.get("relation") == "self":
            query = str(link.get("url", "")).partition("?")[2]
            return [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in query.split("&")]  # type: ignore[misc]
    return []
