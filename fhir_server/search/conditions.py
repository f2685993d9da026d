"""Compiled search criteria: conditions on a resource's index keys, runnable two ways.

`mongo()` is the predicate on `sp.k` that drives an indexed query (an equality, `$in` or range, never a
regex); `test()` re-checks a fetched candidate in the application, against all its keys, indexed (`sp.k`) or
not (`sp.t`). A condition on keys that are not indexed drives `via` indexed keys that every resource with
those keys also has (a superset), and its test then decides. A query runs the cheapest clause
against the database and tests every clause on the candidates, because SecantusDB plans only one indexed
predicate per query (a top-level `$and`/`$or` is a collection scan there).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fhir_server.search.keys import HIGHEST


@dataclass
class Candidate:
    """A live resource version as the search sees it: storage key, id and its index keys (sorted)."""

    storage_key: str
    id: str
    keys: list[str]
    exact: list[str]
    doc: dict[str, Any] | None = field(default=None, repr=False)  # the whole document, when it was read
    _key_set: frozenset[str] | None = field(default=None, repr=False)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Candidate:
        sp = doc.get("sp") or {}
        whole = doc if "res" in doc else None
        keys = list(sp.get("k") or [])
        if sp.get("t"):
            keys = sorted([*keys, *sp["t"]])
        return cls(doc["_id"], doc["id"], keys, list(sp.get("x") or []), whole)

    def has(self, key: str) -> bool:
        if self._key_set is None:
            self._key_set = frozenset(self.keys)
        return key in self._key_set

    def between(self, low: str, high: str) -> list[str]:
        """Keys k with low <= k < high."""
        start = bisect.bisect_left(self.keys, low)
        end = bisect.bisect_left(self.keys, high, lo=start)
        return self.keys[start:end]

    def with_prefix(self, prefix: str) -> list[str]:
        return self.between(prefix, prefix + HIGHEST)


class Condition(Protocol):
    def mongo(self) -> Any: ...

    def test(self, candidate: Candidate) -> bool: ...


@dataclass(frozen=True)
class AnyKey:
    """At least one of `keys` is present; `via`: the indexed keys that drive it when `keys` are not."""

    keys: tuple[str, ...]
    via: tuple[str, ...] | None = None

    @property
    def index_keys(self) -> tuple[str, ...]:
        return self.keys if self.via is None else self.via

    def mongo(self) -> Any:
        keys = self.index_keys
        return keys[0] if len(keys) == 1 else {"$in": list(keys)}

    def test(self, candidate: Candidate) -> bool:
        return any(candidate.has(key) for key in self.keys)


@dataclass(frozen=True)
class KeyRange:
    """A key in [low, high) that also passes `check` (the index bound may be wider than the criterion)."""

    low: str
    high: str
    check: Callable[[str], bool] | None = None
    via: tuple[str, str] | None = (
        None  # the indexed [low, high) that drives it when these keys are not indexed
    )

    def mongo(self) -> Any:
        low, high = (self.low, self.high) if self.via is None else self.via
        return {"$gte": low, "$lt": high}

    def test(self, candidate: Candidate) -> bool:
        matched = candidate.between(self.low, self.high)
        return any(self.check(key) for key in matched) if self.check is not None else bool(matched)


@dataclass(frozen=True)
class ExactString:
    """`:exact`: the folded key narrows the index scan, the original text decides."""

    folded_key: str
    original: str
    via: str | None = None  # the indexed key that drives it when `folded_key` is not indexed

    def mongo(self) -> Any:
        return self.folded_key if self.via is None else self.via

    def test(self, candidate: Candidate) -> bool:
        index = bisect.bisect_left(candidate.exact, self.original)
        return index < len(candidate.exact) and candidate.exact[index] == self.original


def prefix_range(
    prefix: str, check: Callable[[str], bool] | None = None, via_prefix: str | None = None
) -> KeyRange:
    via = None if via_prefix is None or via_prefix == prefix else (via_prefix, via_prefix + HIGHEST)
    return KeyRange(prefix, prefix + HIGHEST, check, via)


@dataclass
class Clause:
    """One search parameter occurrence: its comma-separated alternatives (OR), optionally negated.

    `cost` ranks how many candidates the clause is expected to produce when it drives the query; a negated
    clause cannot drive (its matches are not bounded by any index range). `empty` marks a clause known to
    match nothing (e.g. a chain whose inner search found nothing), which short-cuts the whole query.
    """

    parameter: str
    alternatives: Sequence[Condition]
    cost: float
    negated: bool = False
    empty: bool = False

    @property
    def can_drive(self) -> bool:
        return not self.negated and not self.empty and bool(self.alternatives)

    def matches(self, candidate: Candidate) -> bool:
        if self.empty:
            return False
        found = any(alternative.test(candidate) for alternative in self.alternatives)
        return found != self.negated
