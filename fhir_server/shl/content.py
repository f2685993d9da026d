"""What a link shares, built from the database (at creation for a snapshot, at every fetch for L links):

- `application/fhir+json`: a Bundle of type collection with the Patient, their ImagingStudies (or the one
  study), the Endpoints the studies point to and the hospitals (Organizations) — the same compartment as
  Patient/$everything (fhir_server.interactions.everything).
- `application/smart-api-access` (SHL IG STU1 §"application/smart-api-access"): a SMART token response
  with a short-lived, patient-scoped, read-only token (`patient/*.rs`) plus `aud` = the FHIR base, which
  opens the studies through the FHIR API and the DICOMweb proxy.
"""

from __future__ import annotations

from typing import Any

from fhir_server.auth.keys import KeyStore
from fhir_server.auth.tokens import Grant, mint_access_token
from fhir_server.auth.urls import Urls
from fhir_server.interactions.everything import ORDER, patient_compartment
from fhir_server.search.engine import SearchEngine

FHIR_JSON = "application/fhir+json"
API_ACCESS = "application/smart-api-access"
IMAGE_SCOPE = "patient/*.rs"


def patient_bundle(engine: SearchEngine, fhir_base: str, patient: str, study: str | None) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for resource_type, candidate in patient_compartment(engine, patient):
        resources += [v.resource for v in engine.load(resource_type, [candidate]) if v.resource is not None]
    if study is not None:
        resources = _only_study(resources, study)
    resources.sort(key=lambda r: (ORDER.index(r["resourceType"]), r["id"]))
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"{fhir_base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }


def _only_study(resources: list[dict[str, Any]], study: str) -> list[dict[str, Any]]:
    """The patient, the one study, its endpoints and the organizations they (or the patient) name."""
    kept = [r for r in resources if r["resourceType"] == "Patient"]
    kept += [r for r in resources if r["resourceType"] == "ImagingStudy" and r["id"] == study]
    endpoints = {ref for s in kept[1:] for ref in _endpoint_refs(s)}
    kept += [r for r in resources if r["resourceType"] == "Endpoint" and f"Endpoint/{r['id']}" in endpoints]
    organizations = {_ref(e.get("managingOrganization")) for e in kept if e["resourceType"] == "Endpoint"}
    for patient in kept[:1]:
        organizations.add(_ref(patient.get("managingOrganization")))
        organizations.update(_ref(g) for g in patient.get("generalPractitioner", []))
    kept += [
        r
        for r in resources
        if r["resourceType"] == "Organization" and f"Organization/{r['id']}" in organizations
    ]
    return kept


def _endpoint_refs(study: dict[str, Any]) -> set[str]:
    refs = {_ref(e) for e in study.get("endpoint", [])}
    refs.update(_ref(e) for s in study.get("series", []) for e in s.get("endpoint", []))
    return {r for r in refs if r}


def _ref(reference: Any) -> str:
    return str(reference.get("reference", "")) if isinstance(reference, dict) else ""


def api_access(keys: KeyStore, fhir_base: str, link_id: str, patient: str, lifetime: int) -> dict[str, Any]:
    """The token response; `aud` is required by the SHL IG, `query` hints what to fetch first."""
    grant = Grant(subject=f"shl:{link_id}", scope=IMAGE_SCOPE, client_id="smart-health-link", patient=patient)
    token, claims = mint_access_token(keys, Urls.for_base(fhir_base), grant, lifetime)
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": IMAGE_SCOPE,
        "patient": patient,
        "aud": fhir_base,
        "query": [f"Patient/{patient}", f"ImagingStudy?patient=Patient/{patient}"],
        "jti": claims["jti"],
        "exp": claims["exp"],
    }
