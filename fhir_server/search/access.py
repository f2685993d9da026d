"""Access limits as search clauses: what the caller may see is part of every query the engine runs.

The engine asks its `AccessFilter` for a clause per resource type it reads — the matches of a search,
the inner searches of chains and `_has`, conditional-write criteria, includes and `$everything` members —
and ANDs it in before anything is sorted, counted or paged, so `total`, `_summary=count`, paging and
chain criteria only ever see what the caller may see (Medplum's per-request repository does the same
with its access filters). The filter itself is built from the token in `fhir_server.access`; this module
only knows clauses, so search never depends on auth.

An `AccessClause` is an OR of branches (one per granting scope), each an AND of compiled criteria (the
scope's patient compartment and its `?param=value` filters).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from fhir_server.search.conditions import Candidate, Clause, Condition

# 's': the resource is searched for (matches, chains, _has, conditional criteria);
# 'r': it is shown because something else points at it (includes, $everything, id lookups).
Letter = Literal["r", "s"]
ACCESS_PARAMETER = "(access)"


class AccessFilter(Protocol):
    def clause(self, resource_type: str, letter: Letter) -> Clause | None:
        """The clause a query of `resource_type` must satisfy; None when the caller sees every resource
        of the type. A clause that matches nothing (`empty`) when nothing grants access."""
        ...


class _ServerWide:
    """The server's own view — the sync, the import, operator commands — which sees every resource.
    Request code never holds it: it gets the secured store's engine."""

    def clause(self, resource_type: str, letter: Letter) -> Clause | None:
        return None


SERVER_WIDE: AccessFilter = _ServerWide()


@dataclass
class AccessClause(Clause):
    """OR over `branches`, each an AND of clauses. It drives a query only when every branch has an
    indexable clause (its cheapest one): the driving predicates are then a superset of the matches and
    `matches` decides."""

    branches: Sequence[Sequence[Clause]] = field(default_factory=tuple)

    @classmethod
    def of(cls, branches: Sequence[Sequence[Clause]]) -> AccessClause:
        if not branches:
            return cls(ACCESS_PARAMETER, [], 0.0, empty=True)
        drivers: list[Clause] = []
        for branch in branches:
            drivable = [c for c in branch if c.can_drive]
            if not drivable:
                return cls(ACCESS_PARAMETER, [], float("inf"), branches=tuple(branches))
            drivers.append(min(drivable, key=lambda c: c.cost))
        alternatives: list[Condition] = [a for d in drivers for a in d.alternatives]
        return cls(ACCESS_PARAMETER, alternatives, sum(d.cost for d in drivers), branches=tuple(branches))

    def matches(self, candidate: Candidate) -> bool:
        if self.empty:
            return False
        return any(all(c.matches(candidate) for c in branch) for branch in self.branches)


# The last check on each resource a search is about to show (and where what it shows is audited).
Visible = Callable[[str, dict[str, Any]], bool]


def everything_visible(resource_type: str, resource: dict[str, Any]) -> bool:
    return True
