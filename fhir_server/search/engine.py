"""Running criteria against the database (https://hl7.org/fhir/R4/search.html).

A query reads candidates with ONE indexed predicate on `sp.k` (the cheapest clause, `{cur, del}` on the
partial index) and tests every clause on them in the application; chains and `_has` are resolved
innermost first into id sets that become `$in` conditions of the outer query
(https://hl7.org/fhir/R4/search.html#chaining). Intermediate sets larger than `max_chain_results` are
refused with a 400 rather than truncated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from fhir_server.errors import FhirError, Problem
from fhir_server.search import keys as k
from fhir_server.search.access import AccessFilter
from fhir_server.search.compile import EXACT_COST, compile_value
from fhir_server.search.conditions import AnyKey, Candidate, Clause, Condition, prefix_range
from fhir_server.search.criteria import ChainCriterion, Criterion, HasCriterion, ValueCriterion
from fhir_server.search.index import LIVE
from fhir_server.search.references import split_relative
from fhir_server.search.registry import SearchParam, parameters_of
from fhir_server.search.request import DEFAULT_MAX_OR_VALUES, DEFAULT_MAX_SEARCH_PARAMETERS
from fhir_server.settings import Settings
from fhir_server.storage.repository import ResourceVersion, SearchBackend

# Below this expected size the probe reads whole documents: one round trip instead of two.
_SMALL_RESULT_COST = 50.0
_CANDIDATE_FIELDS = {"id": 1, "sp": 1}


@dataclass(frozen=True)
class SearchLimits:
    max_chain_results: int = 1000
    max_include: int = 1000
    max_or_values: int = DEFAULT_MAX_OR_VALUES
    max_parameters: int = DEFAULT_MAX_SEARCH_PARAMETERS

    @classmethod
    def of(cls, settings: Settings) -> SearchLimits:
        return cls(
            max_chain_results=settings.max_chain_results,
            max_include=settings.max_include,
            max_or_values=settings.max_or_values,
            max_parameters=settings.max_search_parameters,
        )


class SearchEngine:
    """Searches the database. Every query it runs — matches, chains, `_has`, includes, id lookups — carries
    its `access` filter, so it only ever reads what that access may see. There is no default: the secured
    store's engine has the caller's access, the server's own lookups say `SERVER_WIDE` explicitly."""

    def __init__(
        self,
        repository: SearchBackend,
        limits: SearchLimits,
        own_bases: Sequence[str],
        access: AccessFilter,
    ) -> None:
        self._repository = repository
        self.limits = limits
        self._own_bases = tuple(b.rstrip("/") for b in own_bases if b)
        self._access = access

    # -- criteria -----------------------------------------------------------------------------------------

    def clauses(self, criteria: Iterable[Criterion]) -> list[Clause]:
        criteria = list(criteria)
        # Compile every value first: a malformed value is a 400 even when another clause matches nothing.
        compiled = {id(c): compile_value(c, self._own_bases) for c in _values(criteria)}
        return [self._clause(c, compiled) for c in criteria]

    def _clause(self, criterion: Criterion, compiled: dict[int, Clause]) -> Clause:
        if isinstance(criterion, ValueCriterion):
            return compiled[id(criterion)]
        if isinstance(criterion, ChainCriterion):
            return self._chain(criterion)
        return self._reverse_chain(criterion)

    def _chain(self, chain: ChainCriterion) -> Clause:
        references: list[str] = []
        for inner in chain.inner:
            found = self.candidates(inner.resource_type, self.clauses([inner]))
            references += [f"{inner.resource_type}/{c.id}" for c in found]
            self._check_chain_size(chain.expression, len(references))
        keys = tuple(k.value_key(chain.param.name, ref) for ref in references)
        return _id_set_clause(chain.expression, keys, chain.param)

    def _reverse_chain(self, has: HasCriterion) -> Clause:
        sources = self.candidates(has.source_type, self.clauses([has.inner]))
        self._check_chain_size(has.expression, len(sources))
        prefix = k.value_key(has.reference.name, f"{has.resource_type}/")
        ids = {key[len(prefix) :] for source in sources for key in source.with_prefix(prefix)}
        return _id_set_clause(has.expression, tuple(k.code_key("_id", i) for i in sorted(ids)))

    def _check_chain_size(self, expression: str, size: int) -> None:
        if size > self.limits.max_chain_results:
            raise FhirError(
                Problem.INVALID,
                f"'{expression}' matches more than {self.limits.max_chain_results} intermediate resources "
                "(FHIR_MAX_CHAIN_RESULTS); make the chained criteria more selective",
                [expression],
            )

    # -- execution ----------------------------------------------------------------------------------------

    def candidates(self, resource_type: str, clauses: Sequence[Clause]) -> list[Candidate]:
        """Live resources of the type matching every clause (unordered), among those the caller may
        search."""
        guard = self._access.clause(resource_type, "s")
        if guard is not None:
            clauses = [*clauses, guard]
        if any(c.empty for c in clauses):
            return []
        filters, whole = probe_filters(clauses)
        collection = self._repository.collection(resource_type)
        found: dict[str, Candidate] = {}
        for filter_ in filters:
            for doc in collection.find(filter_, None if whole else _CANDIDATE_FIELDS):
                if doc["_id"] not in found:
                    found[doc["_id"]] = Candidate.from_doc(doc)
        return [c for c in found.values() if all(clause.matches(c) for clause in clauses)]

    def by_ids(self, resource_type: str, ids: Iterable[str], limit: int = 0) -> list[Candidate]:
        keys = sorted({k.code_key("_id", i) for i in ids})
        if not keys:
            return []
        return self.by_keys(resource_type, keys, limit)

    def by_keys(self, resource_type: str, keys: Sequence[str], limit: int = 0) -> list[Candidate]:
        """Live resources having any of the keys (reference, string, uri or `_id:code=` keys), read whole
        (for includes and $everything), among those the caller may read."""
        guard = self._access.clause(resource_type, "r")
        if guard is not None and guard.empty:
            return []
        params = parameters_of(resource_type)
        driving = tuple(dict.fromkeys(_driving_key(params, key) for key in keys))
        collection = self._repository.collection(resource_type)
        if driving == tuple(keys) and guard is None:
            return [Candidate.from_doc(doc) for doc in collection.find(keys_filter(driving), limit=limit)]
        cursor = collection.find(keys_filter(driving))
        # Driven by another parameter's keys (a superset), or limited by access: keep the resources that
        # have one of `keys` and that the caller may read, up to `limit`.
        wanted = AnyKey(tuple(keys))
        found = []
        for doc in cursor:
            candidate = Candidate.from_doc(doc)
            if wanted.test(candidate) and (guard is None or guard.matches(candidate)):
                found.append(candidate)
                if len(found) == limit:
                    break
        return found

    def load(self, resource_type: str, candidates: Sequence[Candidate]) -> list[ResourceVersion]:
        """The stored versions of the candidates, in the candidates' order."""
        missing = [c.storage_key for c in candidates if c.doc is None or "res" not in c.doc]
        docs: dict[str, dict[str, Any]] = {}
        if missing:
            collection = self._repository.collection(resource_type)
            docs = {doc["_id"]: doc for doc in collection.find({"_id": {"$in": missing}})}
        versions = []
        for candidate in candidates:
            doc = docs.get(candidate.storage_key) or candidate.doc
            if doc is not None and doc.get("res") is not None:
                versions.append(version_from_doc(resource_type, doc))
        return versions


def probe_filters(clauses: Sequence[Clause]) -> tuple[list[dict[str, Any]], bool]:
    """The database filters that read the candidates of a query (one per range, equalities merged), and
    whether they read whole documents. The cheapest clause drives; with none, every live resource."""
    drivers = [c for c in clauses if c.can_drive]
    driver = min(drivers, key=lambda c: c.cost) if drivers else None
    conditions: Sequence[Condition] = driver.alternatives if driver else [prefix_range(k.code_key("_id", ""))]
    whole = driver is not None and driver.cost <= _SMALL_RESULT_COST
    return [{**LIVE, k.KEYS_FIELD: predicate} for predicate in _merged(conditions)], whole


def keys_filter(keys: Sequence[str]) -> dict[str, Any]:
    """Live resources having any of the index keys (includes, $everything, id lookups)."""
    return {**LIVE, k.KEYS_FIELD: AnyKey(tuple(keys)).mongo()}


def _values(criteria: Iterable[Criterion]) -> Iterable[ValueCriterion]:
    for criterion in criteria:
        if isinstance(criterion, ValueCriterion):
            yield criterion
        elif isinstance(criterion, ChainCriterion):
            yield from _values(criterion.inner)
        else:
            yield from _values([criterion.inner])


def _id_set_clause(expression: str, keys: tuple[str, ...], param: SearchParam | None = None) -> Clause:
    if not keys:
        return Clause(expression, [], 0.0, empty=True)
    via = None if param is None or param.indexed_as is None else tuple(param.driving(key) for key in keys)
    return Clause(expression, [AnyKey(keys, via)], EXACT_COST * len(keys))


def _driving_key(params: Mapping[str, SearchParam], key: str) -> str:
    param = params.get(k.param_name(key))
    return key if param is None else param.driving(key)


def _merged(conditions: Sequence[Condition]) -> list[Any]:
    """Database predicates for the alternatives; equality alternatives share one `$in`."""
    keys: list[str] = []
    predicates: list[Any] = []
    for condition in conditions:
        if isinstance(condition, AnyKey):
            keys.extend(condition.index_keys)
        else:
            predicates.append(condition.mongo())
    if keys:
        predicates.insert(0, AnyKey(tuple(dict.fromkeys(keys))).mongo())
    return predicates


def version_from_doc(resource_type: str, doc: dict[str, Any]) -> ResourceVersion:
    return ResourceVersion(
        resource_type=resource_type,
        id=doc["id"],
        version=doc["v"],
        last_updated=doc["ts"].astimezone(UTC),
        deleted=doc["del"],
        method=doc["m"],
        resource=doc.get("res"),
    )


def relative_targets(candidate: Candidate, param: str) -> list[tuple[str, str]]:
    """(type, id) of the relative references a candidate's reference parameter holds."""
    prefix = k.value_key(param, "")
    out = []
    for key in candidate.with_prefix(prefix):
        parts = split_relative(key[len(prefix) :])
        if parts is not None:
            out.append(parts)
    return out
