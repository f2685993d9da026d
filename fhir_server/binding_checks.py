"""Terminology binding checks on every write, backed by the `terminology` package's service."""

from __future__ import annotations

from collections.abc import Sequence

from fhir_server.errors import Issue
from fhir_server.type_aliases import JsonObject
from fhir_server.validation import ResourceChecker
from terminology.bindings import check_bindings
from terminology.service import TerminologyService


def binding_checker(service: TerminologyService) -> ResourceChecker:
    """Required bindings come back as errors (400), extensible ones as warnings (write proceeds)."""

    def check(resource: JsonObject) -> Sequence[Issue]:
        return [
            Issue(b.severity, b.code, b.diagnostics, (b.expression,))
            for b in check_bindings(resource, service)
        ]

    return check
