"""Why an Orthanc could not be used, in one exception type whatever HTTP library failed, and its HTTP answer.

Down -> 503, too slow -> 504, anything else wrong upstream (refused credentials, 5xx) -> 502
(https://hl7.org/fhir/R4/http.html#2.21.0.3 lets any HTTP status carry an OperationOutcome).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import httpx
import requests

from fhir_server.errors import FhirError, Problem

FailureKind = Literal["unreachable", "timeout", "auth", "not-found", "rejected", "error"]

_PROBLEMS: dict[FailureKind, Problem] = {
    "unreachable": Problem.UNAVAILABLE,
    "timeout": Problem.GATEWAY_TIMEOUT,
    "auth": Problem.BAD_GATEWAY,
    "not-found": Problem.NOT_FOUND,
    "rejected": Problem.INVALID,
    "error": Problem.BAD_GATEWAY,
}


class OrthancFailure(Exception):
    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def to_fhir_error(self) -> FhirError:
        return FhirError(_PROBLEMS[self.kind], self.message)


def kind_of_status(status: int) -> FailureKind:
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not-found"
    if 400 <= status < 500:
        return "rejected"
    return "error"


def status_failure(hospital: str, status: int, detail: str = "") -> OrthancFailure:
    kind = kind_of_status(status)
    if kind == "auth":
        message = f"the Orthanc of {hospital} refused our credentials (HTTP {status}); check `hospital add`"
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
