"""The single error type of the server and its mapping to HTTP status and OperationOutcome.

Every failure a client can see is a `FhirError` carrying a `Problem` category; the table in `Problem`
is the only place that decides which HTTP status and issue type a category gets
(https://hl7.org/fhir/R4/http.html#2.21.0.3, https://hl7.org/fhir/R4/valueset-issue-type.html).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]


class Problem(Enum):
    """Error category -> (HTTP status, OperationOutcome.issue.code)."""

    INVALID = (400, "invalid")
    STRUCTURE = (400, "structure")
    REQUIRED = (400, "required")
    VALUE = (400, "value")
    UNAUTHORIZED = (401, "login")
    FORBIDDEN = (403, "forbidden")
    NOT_FOUND = (404, "not-found")
    NOT_SUPPORTED = (404, "not-supported")
    METHOD_NOT_ALLOWED = (405, "not-supported")
    NOT_ACCEPTABLE = (406, "not-supported")
    CONFLICT = (409, "conflict")
    GONE = (410, "deleted")
    PRECONDITION_FAILED = (412, "conflict")
    TOO_LARGE = (413, "too-costly")
    UNSUPPORTED_MEDIA_TYPE = (415, "not-supported")
    UNPROCESSABLE = (422, "processing")
    TOO_MANY_REQUESTS = (429, "throttled")
    INTERNAL = (500, "exception")
    BAD_GATEWAY = (502, "transient")
    UNAVAILABLE = (503, "transient")
    GATEWAY_TIMEOUT = (504, "timeout")

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def issue_code(self) -> str:
        return self.value[1]


@dataclass(frozen=True)
class Issue:
    severity: Severity
    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            out["expression"] = list(self.expression)
        return out


@dataclass
class FhirError(Exception):
    problem: Problem
    diagnostics: str
    expression: Iterable[str] = ()
    extra_issues: list[Issue] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.diagnostics)
        self.expression = tuple(self.expression)

    @property
    def status(self) -> int:
        return self.problem.status

    def issues(self) -> list[Issue]:
        first = Issue("error", self.problem.issue_code, self.diagnostics, tuple(self.expression))
        return [first, *self.extra_issues]

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues())


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


def information_outcome(diagnostics: str) -> dict[str, Any]:
    return operation_outcome([Issue("information", "informational", diagnostics)])
