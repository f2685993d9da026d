"""The caller's scopes as search clauses (fhir_server.security.access.clauses): what every query of the
secured
store's engine ANDs in — the patient compartment, v2 `?param=value` filters, OR across scopes — tested on
candidates built by the search indexer itself, so a clause matches exactly what the search would find."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from fhir_server.errors import FhirError
from fhir_server.search.conditions import Candidate, Clause
from fhir_server.search.extract import resource_keys
from fhir_server.security.access.clauses import ScopeClauses
from fhir_server.security.enforcement.checks import access_of
from fhir_server.security.enforcement.policy import AccessContext
from fhir_server.security.enforcement.scopes import ScopeSet

BASE = "https://ehr.example/fhir"
DCM = "http://dicom.nema.org/resources/ontology/DCM"


def clauses(scope: str, **kw: Any) -> ScopeClauses:
    return ScopeClauses(AccessContext(subject="t", scopes=ScopeSet.parse(scope), base_url=BASE, **kw), [BASE])


def study(resource_id: str, patient: str, modality: str) -> dict[str, Any]:
    return {
        "resourceType": "ImagingStudy",
        "id": resource_id,
        "status": "available",
        "subject": {"reference": f"Patient/{patient}"},
        "modality": [{"system": DCM, "code": modality}],
    }


def candidate(resource: dict[str, Any]) -> Candidate:
    keys, exact = resource_keys(resource, [BASE])
    return Candidate("", resource["id"], sorted(keys), sorted(exact))


def matches(clause: Clause | None, resource: dict[str, Any]) -> bool:
    return clause is None or clause.matches(candidate(resource))


def test_patient_scopes_confine_patient_data_to_the_compartment() -> None:
    access = clauses("patient/*.rs", patient="a")
    for letter in ("s", "r"):
        studies = access.clause("ImagingStudy", letter)
        assert studies is not None and studies.can_drive  # an indexed predicate drives the query
        assert matches(studies, study("s1", "a", "CT"))
        assert not matches(studies, study("s2", "b", "CT"))
        patients = access.clause("Patient", letter)
        assert matches(patients, {"resourceType": "Patient", "id": "a"})
        assert not matches(patients, {"resourceType": "Patient", "id": "b"})
    # Hospitals and their endpoints are not patient data: readable, unconfined.
    assert access.clause("Organization", "s") is None and access.clause("Endpoint", "r") is None


def test_unconfined_scopes_add_no_clause() -> None:
    assert clauses("system/*.rs").clause("ImagingStudy", "s") is None
    assert clauses("user/*.rs", role="clinician").clause("Patient", "s") is None


def test_no_grant_matches_nothing() -> None:
    assert clauses("patient/*.cud", patient="a").clause("ImagingStudy", "s").empty  # type: ignore[union-attr]
    assert clauses("patient/*.rs").clause("ImagingStudy", "s").empty  # type: ignore[union-attr]  # no context
    assert clauses("user/ImagingStudy.rs", role="clinician").clause("Patient", "r").empty  # type: ignore[union-attr]


def test_v2_filters_are_compiled_with_search_semantics() -> None:
    ct_only = clauses("user/ImagingStudy.rs?modality=CT", role="clinician").clause("ImagingStudy", "s")
    assert matches(ct_only, study("s1", "a", "CT"))
    assert not matches(ct_only, study("s2", "a", "MR"))
    either = clauses(
        "user/ImagingStudy.rs?modality=CT user/ImagingStudy.rs?modality=MR", role="clinician"
    ).clause("ImagingStudy", "s")
    assert matches(either, study("s1", "a", "CT")) and matches(either, study("s2", "a", "MR"))
    assert not matches(either, study("s3", "a", "US"))
    # A patient's filtered scope: compartment AND filter.
    mine_ct = clauses("patient/ImagingStudy.rs?modality=CT", patient="a").clause("ImagingStudy", "s")
    assert matches(mine_ct, study("s1", "a", "CT"))
    assert not matches(mine_ct, study("s2", "a", "MR")) and not matches(mine_ct, study("s3", "b", "CT"))


def test_a_filter_the_server_cannot_evaluate_grants_nothing() -> None:
    chained = clauses("user/ImagingStudy.rs?patient.family=Doe", role="clinician").clause("ImagingStudy", "s")
    assert chained is not None and chained.empty


def test_request_code_without_a_verified_token_gets_401() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/fhir/x", "headers": [], "state": {}})
    with pytest.raises(FhirError) as anonymous:
        access_of(request)
    assert anonymous.value.status == 401
