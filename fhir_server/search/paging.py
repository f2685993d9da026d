"""Keyset paging of search results (https://hl7.org/fhir/R4/http.html#paging).

A page link carries an opaque `_page` token holding the sort position of the last (next) or first (prev)
entry it continues from, not an offset: resources created or deleted meanwhile do not shift later pages,
so no entry is skipped or repeated. The token also records the `_sort` it belongs to.
"""

from __future__ import annotations

import base64
import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import orjson

from fhir_server.errors import FhirError, Problem
from fhir_server.search.conditions import Candidate
from fhir_server.search.request import SortKey
from fhir_server.search.sorting import Position, order_key

Direction = Literal["after", "before"]


@dataclass(frozen=True)
class PageToken:
    direction: Direction
    position: Position
    sort: str


@dataclass
class Page:
    entries: list[Candidate]
    previous: PageToken | None
    next: PageToken | None


def encode(token: PageToken) -> str:
    raw = orjson.dumps(
        {
            "d": token.direction,
            "k": [list(p) for p in token.position[0]],
            "i": token.position[1],
            "s": token.sort,
        }
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str, sort_signature: str) -> PageToken:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        components = tuple((int(m), str(v)) for m, v in data["k"])
        token = PageToken(data["d"], (components, str(data["i"])), str(data["s"]))
    except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise FhirError(
            Problem.INVALID, "Invalid _page token: use the links of a previous page", ["_page"]
        ) from None
    if token.direction not in ("after", "before") or token.sort != sort_signature:
        raise FhirError(Problem.INVALID, "This _page token belongs to a different _sort", ["_page"])
    return token


def paginate(
    ranked: Sequence[tuple[Position, Candidate]], sort: Sequence[SortKey], count: int, token: PageToken | None
) -> Page:
    signature = ",".join(s.text for s in sort)
    if count == 0:
        return Page([], None, None)
    keys = [order_key(pos, sort) for pos, _ in ranked]
    if token is None:
        start = 0
    elif token.direction == "after":
        start = bisect.bisect_right(keys, order_key(token.position, sort))
    else:
        start = max(0, bisect.bisect_left(keys, order_key(token.position, sort)) - count)
    end = min(len(ranked), start + count)
    if token is not None and token.direction == "before":
        end = min(end, bisect.bisect_left(keys, order_key(token.position, sort)))
    chosen = ranked[start:end]
    previous = PageToken("before", chosen[0][0], signature) if chosen and start > 0 else None
    if not chosen and token is not None and start > 0:
        previous = PageToken("before", token.position, signature)  # resumed past the end: offer the way back
    following = PageToken("after", chosen[-1][0], signature) if chosen and end < len(ranked) else None
    return Page([c for _, c in chosen], previous, following)
