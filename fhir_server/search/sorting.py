"""`_sort` over index keys (https://hl7.org/fhir/R4/search.html#sort).

A multi-valued element sorts by its lowest value ascending and its highest value descending, dates by the
start of their interval ascending and the end descending; resources without a value come last in either
direction. The resource id breaks ties, so the order is total and a keyset cursor can resume it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import total_ordering

from fhir_server.search import keys as k
from fhir_server.search.conditions import Candidate
from fhir_server.search.request import SortKey

# Per sort parameter: (missing: 0 present / 1 absent, value); the id comes last.
Position = tuple[tuple[tuple[int, str], ...], str]


@total_ordering
@dataclass(frozen=True)
class _Descending:
    text: str

    def __lt__(self, other: object) -> bool:
        assert isinstance(other, _Descending)
        return self.text > other.text


def position(candidate: Candidate, sort: Sequence[SortKey]) -> Position:
    return tuple(_component(candidate, key) for key in sort), candidate.id


def order_key(pos: Position, sort: Sequence[SortKey]) -> tuple[object, ...]:
    parts: list[object] = []
    for (missing, text), key in zip(pos[0], sort, strict=True):
        parts.append((missing, _Descending(text) if key.descending else text))
    parts.append(pos[1])
    return tuple(parts)


def _component(candidate: Candidate, key: SortKey) -> tuple[int, str]:
    values = _values(candidate, key)
    if not values:
        return 1, ""
    return 0, max(values) if key.descending else min(values)


def _values(candidate: Candidate, key: SortKey) -> list[str]:
    name = key.param.name
    if key.param.type == "date":
        prefix = k.high_prefix(name) if key.descending else k.low_prefix(name)
        return [k.split_date_key(item, prefix)[0] for item in candidate.with_prefix(prefix)]
    prefix = k.code_key(name, "") if key.param.type == "token" else k.value_key(name, "")
    return [item[len(prefix) :] for item in candidate.with_prefix(prefix)]


def sort_candidates(
    candidates: Sequence[Candidate], sort: Sequence[SortKey]
) -> list[tuple[Position, Candidate]]:
    ranked = [(position(c, sort), c) for c in candidates]
    ranked.sort(key=lambda item: order_key(item[0], sort))
    return ranked
