"""Parsed search criteria, before they are compiled into index conditions.

A criterion is one query parameter of the request: a value test on a parameter of the searched type, a
chain through a reference (`patient.identifier=…`, https://hl7.org/fhir/R4/search.html#chaining) or a
reverse chain (`_has:ImagingStudy:patient:modality=CT`, https://hl7.org/fhir/R4/search.html#has).
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_server.search.registry import SearchParam


@dataclass(frozen=True)
class ValueCriterion:
    resource_type: str
    param: SearchParam
    modifier: str | None
    values: tuple[str, ...]  # comma-separated alternatives, escapes still in place
    expression: str  # the parameter name as the client wrote it, for error messages


@dataclass(frozen=True)
class ChainCriterion:
    resource_type: str
    param: SearchParam  # a reference parameter of resource_type
    inner: tuple[Criterion, ...]  # one criterion per stored target type that knows the chained parameter
    expression: str


@dataclass(frozen=True)
class HasCriterion:
    resource_type: str  # the searched type, which the source's reference points to
    source_type: str
    reference: SearchParam  # a reference parameter of source_type
    inner: Criterion  # on source_type
    expression: str


Criterion = ValueCriterion | ChainCriterion | HasCriterion
