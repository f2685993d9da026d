"""Why an Orthanc could not be used, in one exception type whatever HTTP library failed, and its HTTP answer.

Down, too slow or busy -> 503 with `Retry-After` (SMART Imaging Access: the client repeats the same request;
a proxy waiting on the PACS is bounded by the Orthanc timeouts, so no connection hangs), anything else wrong
upstream (refused credentials, 5xx) -> 502 (https://hl7.org/fhir/R4/http.html#2.21.0.3 lets any HTTP status
carry an OperationOutcome).

`OrthancFailure.message` is for operators (CLI, log, `/health/orthanc`): it names the hospital and may quote
Orthanc. A client only ever gets a generic OperationOutcome (`to_fhir_error`): Orthanc's own text can echo
paths, UIDs of other patients' studies, versions and configuration, so it is logged under the request id
(the `X-Request-ID` the client receives) and never relayed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import httpx
import requests

from fhir_server.errors import FhirError, Problem
from fhir_server.observability.logs import request_id

log = logging.getLogger(__name__)

FailureKind = Literal["unreachable", "timeout", "busy", "auth", "not-found", "rejected", "error"]

_PROBLEMS: dict[FailureKind, Problem] = {
    "unreachable": Problem.UNAVAILABLE,
    "timeout": Problem.UNAVAILABLE,
    "busy": Problem.UNAVAILABLE,
    "auth": Problem.BAD_GATEWAY,
    "not-found": Problem.NOT_FOUND,
    "rejected": Problem.INVALID,
    "error": Problem.BAD_GATEWAY,
}
# One text for every "not there" of a DICOMweb endpoint — no such study, a study the caller may not see, or
# a series or instance Orthanc does not have — so that a 404 never tells which of them it was.
NOT_FOUND_MESSAGE = (
    "Not found at this DICOMweb endpoint (no such study, series or instance, or not one this access token "
    "may see)"
)
# When a client should repeat a request the PACS could not serve: long enough for a busy PACS to catch up.
RETRY_AFTER_SECONDS = 10
_SEE_LOG = "; the server log has the details under this response's X-Request-ID"
_CLIENT_MESSAGES: dict[FailureKind, str] = {
    "unreachable": "The hospital's PACS is not reachable at the moment; try again later" + _SEE_LOG,
    "timeout": "The hospital's PACS did not answer in time; try again later" + _SEE_LOG,
    "busy": "The hospital's PACS is busy; try again later" + _SEE_LOG,
    "auth": "The hospital's PACS could not serve this request" + _SEE_LOG,
    "not-found": NOT_FOUND_MESSAGE,
    "rejected": "The hospital's PACS rejected this request's DICOMweb parameters" + _SEE_LOG,
    "error": "The hospital's PACS could not serve this request" + _SEE_LOG,
}


class OrthancFailure(Exception):
    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def to_fhir_error(self) -> FhirError:
        """The client's answer: generic. What really happened goes to the log, with the request id."""
        log.warning(
            "DICOMweb proxy, request %s: %s",
            request_id.get() or "-",
            self.message,
            extra={"fields": {"kind": self.kind}},
        )
        problem = _PROBLEMS[self.kind]
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if problem is Problem.UNAVAILABLE else {}
        return FhirError(problem, _CLIENT_MESSAGES[self.kind], headers=headers)


def kind_of_status(status: int) -> FailureKind:
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not-found"
    if status in (429, 503):
        return "busy"
    if 400 <= status < 500:
        return "rejected"
    return "error"


def status_failure(hospital: str, status: int, detail: str = "") -> OrthancFailure:
    kind = kind_of_status(status)
    if kind == "auth":
        message = (
            f"the Orthanc of {hospital} refused our credentials (HTTP {status}); fix its user and password "
            "with `fhir-server hospital update HOSPITAL --orthanc-user U --orthanc-password P`"
        )
    else:
        message = f"the Orthanc of {hospital} answered HTTP {status}"
    return OrthancFailure(kind, f"{message}: {detail[:300]}" if detail else message)


def transport_failure(hospital: str, exc: Exception, timeout: float) -> OrthancFailure:
    if isinstance(exc, httpx.TimeoutException | requests.Timeout) and not isinstance(
        exc, httpx.ConnectTimeout | requests.ConnectTimeout
    ):
        return OrthancFailure("timeout", f"the Orthanc of {hospital} did not answer within {timeout:g} s")
    return OrthancFailure("unreachable", f"the Orthanc of {hospital} is not reachable ({type(exc).__name__})")


@contextmanager
def translated(hospital: str, timeout: float) -> Iterator[None]:
    """Turns httpx/requests transport errors and HTTP error statuses into OrthancFailure."""
    try:
        yield
    except httpx.HTTPStatusError as exc:
        raise status_failure(hospital, exc.response.status_code, exc.response.text) from None
    except requests.HTTPError as exc:
        response = exc.response
        status = response.status_code if response is not None else 502
        raise status_failure(hospital, status, response.text if response is not None else "") from None
    except (httpx.TransportError, requests.ConnectionError, requests.Timeout) as exc:
        raise transport_failure(hospital, exc, timeout) from None
