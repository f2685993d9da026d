"""The caller's scopes compiled into search clauses (`fhir_server.search.access.AccessFilter`).

For a resource type and a letter (`s` search, `r` read) every scope that grants the letter is one branch:
its patient compartment (App Launch 2.2 `patient/` scopes, a patient user's own record) AND its
`?param=value` filters (§finer-grained-resource-constraints-using-search-parameters), compiled with the
search module's own semantics, so a filter matches exactly what `[type]?param=value` would find. One
branch without limits makes the type unrestricted (no clause). A filter the server cannot evaluate (chains,
`_has`, unknown parameters) drops its branch: access narrows to nothing rather than widening.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fhir_server.search.access import AccessClause, Letter
from fhir_server.search.conditions import Clause
from fhir_server.security.enforcement.compartment import compartment_criteria, is_patient_data
from fhir_server.security.enforcement.policy import AccessContext
from fhir_server.security.enforcement.scope_filters import compile_filters

log = logging.getLogger(__name__)


class ScopeClauses:
    """`AccessFilter` for one caller; clauses are compiled once per (type, letter) and request."""

    def __init__(self, access: AccessContext, own_bases: Sequence[str]) -> None:
        self._access = access
        self._own_bases = tuple(own_bases)
        self._cache: dict[tuple[str, Letter], Clause | None] = {}

    def clause(self, resource_type: str, letter: Letter) -> Clause | None:
        key = (resource_type, letter)
        if key not in self._cache:
            self._cache[key] = self._build(resource_type, letter)
        return self._cache[key]

    def _build(self, resource_type: str, letter: Letter) -> Clause | None:
        access = self._access
        if access.unrestricted:
            return None
        branches: list[list[Clause]] = []
        for scope in access.scopes.resource:
            if not scope.grants(letter, resource_type):
                continue
            patient = access.confinement(scope)
            if patient is False:
                continue
            criteria: list[tuple[str, str]] = []
            if patient is not None and is_patient_data(resource_type):
                criteria += compartment_criteria(resource_type, patient)
            criteria += scope.filters
            if not criteria:
                return None
            branch = compile_filters(resource_type, criteria, self._own_bases)
            if branch is None:
                log.warning(
                    "a scope filter on %s cannot be evaluated: it grants nothing (%s)",
                    resource_type,
                    scope.filters,
                )
                continue
            branches.append(branch)
        return AccessClause.of(branches)
