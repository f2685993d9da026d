"""The enforcement API that search (and any other feature) calls: `require`, `compartment_filter`,
`compartment_search_params`, `visible`, `confine_criteria`, `SmartAuthorizer` — on a request whose
verified token the middleware has put on `request.state.access`."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from fhir_server.auth.enforcement import (
    SmartAuthorizer,
    compartment_filter,
    compartment_search_params,
    confine_criteria,
    require,
    visible,
)
from fhir_server.auth.policy import AccessContext
from fhir_server.auth.scopes import ScopeSet
from fhir_server.errors import FhirError

BASE = "https://ehr.example/fhir"


def request_with(scope: str | None, **kw: object) -> Request:
    state: dict[str, object] = {}
    if scope is not None:
        state["access"] = AccessContext(subject="t", scopes=ScopeSet.parse(scope), base_url=BASE, **kw)  # type: ignore[arg-type]
    return Request({"type": "http", "method": "GET", "path": "/fhir/x", "headers": [], "state": state})


def test_require_is_a_type_level_check() -> None:
    patient = request_with("patient/ImagingStudy.rs", patient="a")
    require(patient, "search", "ImagingStudy")
    with pytest.raises(FhirError) as denied:
        require(patient, "search", "Patient")
    assert denied.value.status == 403 and "insufficient_scope" in denied.value.headers["WWW-Authenticate"]
    with pytest.raises(FhirError) as anonymous:
        require(request_with(None), "read", "Patient")
    assert anonymous.value.status == 401


def test_compartment_filter_and_search_params() -> None:
    patient = request_with("patient/*.rs", patient="a")
    assert compartment_filter(patient, "ImagingStudy") == ("Patient", "a")
    assert compartment_filter(patient) == ("Patient", "a")
    assert compartment_filter(patient, "Organization") is None  # not patient data: not confined
    assert compartment_search_params(patient, "ImagingStudy") == [("patient", "Patient/a")]
    assert compartment_search_params(patient, "Patient") == [("_id", "a")]
    clinician = request_with("user/*.rs", role="clinician")
    assert compartment_filter(clinician, "ImagingStudy") is None and compartment_filter(clinician) is None
    patient_user = request_with("user/*.rs", role="patient", fhir_user="Patient/b")
    assert compartment_filter(patient_user, "Patient") == ("Patient", "b")
    with pytest.raises(FhirError):
        compartment_filter(request_with("patient/*.cud", patient="a"), "ImagingStudy")  # no s: 403


def test_visible_and_confine_criteria() -> None:
    patient = request_with("patient/*.rs", patient="a")
    assert visible(
        patient, "ImagingStudy", {"resourceType": "ImagingStudy", "subject": {"reference": "Patient/a"}}
    )
    assert not visible(
        patient, "ImagingStudy", {"resourceType": "ImagingStudy", "subject": {"reference": "Patient/b"}}
    )
    assert confine_criteria(patient, "ImagingStudy", "identifier=x") == "identifier=x&patient=Patient%2Fa"
    assert confine_criteria(request_with("system/*.rs"), "ImagingStudy", "identifier=x") == "identifier=x"


def test_smart_authorizer_implements_the_authz_protocol() -> None:
    authorizer = SmartAuthorizer()
    patient = request_with("patient/*.rs", patient="a")
    study_a = {"resourceType": "ImagingStudy", "subject": {"reference": "Patient/a"}}
    assert authorizer.allows(patient, "read", "ImagingStudy", study_a)
    assert not authorizer.allows(patient, "update", "ImagingStudy", study_a)
    assert not authorizer.allows(request_with(None), "read", "ImagingStudy", study_a)
