"""What a link shares, built with a SecuredStore for the link creator's access (fhir_server.shl.creator) —
at creation for a snapshot, at every fetch for L links — so a link never shows more than its creator may read:

- `application/fhir+json`: a Bundle of type collection with the Patient, their ImagingStudies (or the one
  study), the Endpoints the studies point to and the hospitals (Organizations) — the same compartment as
  Patient/$everything (fhir_server.interactions.everything), of which the store's engine finds only what the
  creator may read.
- `application/smart-api-access` (SHL IG STU1 §"application/smart-api-access"): a SMART token response
  with a short-lived, read-only token plus `aud` = the FHIR base. Its scopes name exactly the resources of
  the link's bundle (`patient/ImagingStudy.rs?_id=a,b`, … with the link's patient as launch context), so it
  opens those studies through the FHIR API and the DICOMweb proxy and nothing else: not a study the link
  leaves out, not one its creator could not read.
"""

from __future__ import annotations

from typing import Any

from fhir_server.interactions.everything import ORDER, patient_compartment
from fhir_server.security.access.store import SecuredStore
from fhir_server.security.oauth.access_tokens import Grant, mint_access_token
from fhir_server.security.oauth.signing_keys import KeyStore
from fhir_server.security.oauth.urls import Urls

FHIR_JSON = "application/fhir+json"
API_ACCESS = "application/smart-api-access"
IMAGE_CLIENT = "smart-health-link"

Shared = dict[str, set[str]]  # resource type -> ids


def patient_bundle(
    store: SecuredStore, fhir_base: str, patient: str, study: str | None, audit: str | None = None
) -> dict[str, Any]:
    """The link's Bundle as the store's caller sees it now; `audit`: record what it shows under that
    description (one AuditEvent), None when the bundle is not shown (it only sizes a token)."""
    engine = store.engine
    resources: list[dict[str, Any]] = []
    for resource_type, candidate in patient_compartment(engine, patient):
        resources += [v.resource for v in engine.load(resource_type, [candidate]) if v.resource is not None]
    if study is not None:
        resources = _only_study(resources, study)
    shown = store.showing()
    resources = [r for r in resources if shown.visible(r["resourceType"], r)]
    if audit is not None:
        shown.record(audit)
    resources.sort(key=lambda r: (ORDER.index(r["resourceType"]), r["id"]))
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"{fhir_base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }


def shared(bundle: dict[str, Any]) -> Shared:
    ids: Shared = {}
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        ids.setdefault(resource["resourceType"], set()).add(resource["id"])
    return ids


def _only_study(resources: list[dict[str, Any]], study: str) -> list[dict[str, Any]]:
    """The patient, the one study, its endpoints and the organizations they (or the patient) name."""
    kept = [r for r in resources if r["resourceType"] == "Patient"]
    kept += [r for r in resources if r["resourceType"] == "ImagingStudy" and r["id"] == study]
    endpoints = {ref for s in kept if s["resourceType"] == "ImagingStudy" for ref in _endpoint_refs(s)}
    kept += [r for r in resources if r["resourceType"] == "Endpoint" and f"Endpoint/{r['id']}" in endpoints]
    organizations = {_ref(e.get("managingOrganization")) for e in kept if e["resourceType"] == "Endpoint"}
    for patient in (r for r in kept if r["resourceType"] == "Patient"):
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


def token_scope(ids: Shared) -> str:
    """v2 query-qualified scopes granting read and search of exactly these resources (App Launch 2.2
    §finer-grained-resource-constraints-using-search-parameters; a comma is OR). Ids are
    [A-Za-z0-9.-], so they need no escaping in the scope's query. With the link's patient as launch
    context the compartment applies too. No resources: no scope (the token grants nothing)."""
    return " ".join(
        f"patient/{resource_type}.rs?_id={','.join(sorted(ids[resource_type]))}"
        for resource_type in ORDER
        if ids.get(resource_type)
    )


def api_access(
    keys: KeyStore,
    fhir_base: str,
    link_id: str,
    patient: str,
    study: str | None,
    ids: Shared,
    lifetime: int,
) -> dict[str, Any]:
    """The token response; `aud` is required by the SHL IG, `query` hints what to fetch first."""
    scope = token_scope(ids)
    grant = Grant(subject=f"shl:{link_id}", scope=scope, client_id=IMAGE_CLIENT, patient=patient)
    token, claims = mint_access_token(keys, Urls.for_base(fhir_base), grant, lifetime)
    query = [f"ImagingStudy/{study}"] if study else [f"ImagingStudy?patient=Patient/{patient}"]
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
        "patient": patient,
        "aud": fhir_base,
        "query": [f"Patient/{patient}", *query],
        "jti": claims["jti"],
        "exp": claims["exp"],
    }
