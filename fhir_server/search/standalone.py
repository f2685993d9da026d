"""What a search of a standalone type (the overlay's `standalone_types`: the audit log, the shipped
terminology) does not support, refused with a 400 before it runs: they live outside the FHIR repository,
so there is nothing to chain to or include, and `fhir_server.search.elements` has no model of theirs to
say which elements are summary or mandatory."""

from __future__ import annotations

from fhir_server.errors import FhirError, Problem
from fhir_server.search.criteria import ValueCriterion
from fhir_server.search.request import SearchRequest


def refuse_unsupported(request: SearchRequest) -> None:
    kind = request.resource_type
    if request.includes:
        raise FhirError(
            Problem.INVALID, f"{kind} search does not support _include or _revinclude", ["_include"]
        )
    if request.summary not in (None, "count", "false") or request.elements is not None:
        raise FhirError(
            Problem.INVALID, f"{kind} search supports _summary=count only, and no _elements", ["_summary"]
        )
    for criterion in request.criteria:
        if not isinstance(criterion, ValueCriterion):
            raise FhirError(
                Problem.INVALID,
                f"'{criterion.expression}': {kind} search does not support chained parameters",
                [criterion.expression],
            )
