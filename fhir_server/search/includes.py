"""`_include` and `_revinclude`, with `:iterate` (https://hl7.org/fhir/R4/search.html#include).

Non-iterating specs apply to the matches, iterating ones also to every resource included so far, until
nothing new turns up. Only references to resources on this server are followed. At most `limit`
resources are included per page; when the limit cuts the set the caller adds an OperationOutcome entry
saying so, so nothing is dropped silently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from fhir_server.search import keys as k
from fhir_server.search.conditions import Candidate
from fhir_server.search.engine import SearchEngine, relative_targets
from fhir_server.search.registry import SEARCH_PARAMETERS, reference_parameters
from fhir_server.search.request import IncludeSpec

Typed = tuple[str, Candidate]


@dataclass
class Included:
    resources: list[Typed] = field(default_factory=list)
    truncated: bool = False


def resolve_includes(
    engine: SearchEngine, matches: Sequence[Typed], specs: Sequence[IncludeSpec], limit: int
) -> Included:
    result = Included()
    if not specs or not matches:
        return result
    seen = {(t, c.id) for t, c in matches}
    frontier: list[Typed] = list(matches)
    first_round = True
    while frontier:
        active = [s for s in specs if s.iterate or first_round]
        found: list[Typed] = []
        for spec in active:
            step = (
                _reverse(engine, frontier, spec, limit)
                if spec.reverse
                else _forward(engine, frontier, spec, limit)
            )
            for typed in step:
                if (typed[0], typed[1].id) not in seen:
                    seen.add((typed[0], typed[1].id))
                    found.append(typed)
        room = limit - len(result.resources)
        if len(found) > room:
            result.resources.extend(found[:room])
            result.truncated = True
            return result
        result.resources.extend(found)
        frontier = found
        first_round = False
        if not any(s.iterate for s in specs):
            break
    return result


def _forward(engine: SearchEngine, sources: Sequence[Typed], spec: IncludeSpec, limit: int) -> list[Typed]:
    wanted: dict[str, set[str]] = defaultdict(set)
    for source_type, candidate in sources:
        if source_type != spec.source_type:
            continue
        names = [spec.param] if spec.param else [p.name for p in reference_parameters(source_type)]
        for name in names:
            for target_type, target_id in relative_targets(candidate, name or ""):
                if target_type in SEARCH_PARAMETERS and spec.target_type in (None, target_type):
                    wanted[target_type].add(target_id)
    found: list[Typed] = []
    for target_type, ids in sorted(wanted.items()):
        found += [(target_type, c) for c in engine.by_ids(target_type, ids, limit + 1)]
    return found


def _reverse(engine: SearchEngine, targets: Sequence[Typed], spec: IncludeSpec, limit: int) -> list[Typed]:
    assert spec.param is not None
    keys = sorted(
        {
            k.value_key(spec.param, f"{target_type}/{candidate.id}")
            for target_type, candidate in targets
            if spec.target_type in (None, target_type)
        }
    )
    if not keys:
        return []
    return [(spec.source_type, c) for c in engine.by_keys(spec.source_type, keys, limit + 1)]
