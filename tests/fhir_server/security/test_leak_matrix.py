"""The leak matrix: every route of the application × {patient A (launch token, and A's own user account),
patient B, clinicians whose ImagingStudy scope is filtered to CT, a system token, no token}.

`ROUTES` below is the table: each route of `app.routes` (method + path template) either has probes — how
to name A's thing, B's thing or an absent one in a request to it — or a reason why it carries no patient
data. A route the application has and the table lacks fails `test_every_route_is_in_the_matrix`, naming it:
a new route is classified when it is added.

Each probe runs as rows (route, probe, caller, target):
- target = another patient's Thing the caller may not see: the answer must be exactly the answer for an
  absent Thing of the same shape (status, body and headers, after each request's own ids are replaced by
  placeholders) — no existence oracle, no count that includes it;
- target = the caller's own Thing, or one it may see: the answer must not contain anything of a patient or
  study the caller may not see (ids, names, national ids, study/series/instance UIDs, accession numbers),
  and a searchset's total must count only what it shows;
- caller = system (or an admin operator for admin-only routes): another patient's Thing must answer
  differently from an absent one — else the probe reaches no data and proves nothing.
No token: 401 with a Bearer challenge on every protected route; the public ones are listed with their status.

Rows that fail are plain failures, never xfail or skip: they are the server's leaks, to be fixed there.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI

from fhir_server.app import create_app
from fhir_server.rest.routes import ROUTES as ROUTE_TABLE
from fhir_server.settings import Settings
from fhir_server.viewer import installed_version, viewer_dir
from tests.fhir_server.security.leak_compare import (
    Observation,
    Req,
    differences,
    forms,
    get,
    inconsistent_total,
    leaked,
    observe,
)
from tests.fhir_server.security.leak_server import Matrix
from tests.fhir_server.security.leak_world import (
    CALLERS,
    Aspect,
    Caller,
    Thing,
    World,
    absent_counterpart,
    hidden,
    subscription_body,
)

PATIENT, STUDIES, STUDY, ADMIN, NONE = Aspect.PATIENT, Aspect.STUDIES, Aspect.STUDY, Aspect.ADMIN, Aspect.NONE
FHIR_JSON = ("Content-Type", "application/fhir+json")
MINIMAL = ("Prefer", "return=minimal")
FORM = ("Content-Type", "application/x-www-form-urlencoded")
NOT_CHANGED = ("If-None-Match", 'W/"1"')  # the demo Patients are at version 1


@dataclass(frozen=True)
class Ctx:
    """What a probe's request may name: the target Thing, the caller's own Thing, the caller's pending
    sign-in (login pages) and the world (endpoints)."""

    t: Thing
    own: Thing
    tx: str
    world: World


@dataclass(frozen=True)
class Probe:
    name: str
    aspect: Aspect
    build: Callable[[Ctx], Req]
    # Does the system token (`operator`: an admin one) get a different answer for B's thing than for an
    # absent one? False for writes (which it may not do) and requests that name no data of their own.
    reaches: bool = True
    operator: bool = False


@dataclass(frozen=True)
class Probed:
    probes: tuple[Probe, ...]
    public: int | None = None  # status without a token on a public route; None: protected (401)


@dataclass(frozen=True)
class NoPatientData:
    reason: str
    example: Req  # how the no-token check calls it
    public: int | None = None


Entry = Probed | NoPatientData


def probed(*probes: Probe, public: int | None = None) -> Probed:
    return Probed(probes, public)


def nodata(reason: str, example: Req | str, public: int | None = None) -> NoPatientData:
    return NoPatientData(reason, get(example) if isinstance(example, str) else example, public)


# --- request bodies --------------------------------------------------------------------------------------


def study_body(patient: str, *, study_id: str | None = None, uid: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": {"reference": f"Patient/{patient}"},
    }
    if study_id:
        body["id"] = study_id
    if uid:
        body["identifier"] = [{"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}]
    return body


def merge_preview(source: str, target: str) -> dict[str, object]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "source-patient", "valueReference": {"reference": f"Patient/{source}"}},
            {"name": "target-patient", "valueReference": {"reference": f"Patient/{target}"}},
            {"name": "preview", "valueBoolean": True},
        ],
    }


def batch(*entries: dict[str, object]) -> dict[str, object]:
    return {"resourceType": "Bundle", "type": "batch", "entry": list(entries)}


def transaction(*entries: dict[str, object]) -> dict[str, object]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def entry(
    method: str, url: str, resource: dict[str, object] | None = None, *, if_none_exist: str | None = None
) -> dict[str, object]:
    request = {"method": method, "url": url} | ({"ifNoneExist": if_none_exist} if if_none_exist else {})
    out: dict[str, object] = {"request": request}
    if resource is not None:
        out["resource"] = resource
    return out


SHL_PARAMETERS = {
    "resourceType": "Parameters",
    "parameter": [{"name": "label", "valueString": "leak matrix"}],
}
JSON_PATCH = [{"op": "add", "path": "/meta", "value": {"tag": [{"code": "leak-matrix"}]}}]

# --- FHIR search: criteria naming the target (GET [type]?… and POST [type]/_search) ----------------------

SEARCHES: tuple[tuple[str, Aspect, Callable[[Ctx], str]], ...] = (
    ("Patient?_id", PATIENT, lambda c: f"Patient?_id={c.t.patient}"),
    ("Patient?_id=own,other", PATIENT, lambda c: f"Patient?_id={c.own.patient},{c.t.patient}"),
    ("Patient?birthdate", PATIENT, lambda c: f"Patient?birthdate={c.t.birth_date}"),
    ("Patient?family", PATIENT, lambda c: f"Patient?family={c.t.family}"),
    ("Patient?given", PATIENT, lambda c: f"Patient?given={c.t.given}"),
    ("Patient?name", PATIENT, lambda c: f"Patient?name={c.t.family}"),
    ("Patient?identifier", PATIENT, lambda c: f"Patient?identifier={c.t.national_id}"),
    ("Patient?phone", PATIENT, lambda c: f"Patient?phone={quote(c.t.phone, safe='')}"),
    ("Patient?link", PATIENT, lambda c: f"Patient?link=Patient/{c.t.patient}"),
    (
        "Patient?_id&_revinclude",
        PATIENT,
        lambda c: f"Patient?_id={c.t.patient}&_revinclude=ImagingStudy:subject",
    ),
    (
        "Patient?_has:identifier",
        STUDY,
        lambda c: f"Patient?_has:ImagingStudy:subject:identifier=urn:oid:{c.t.study_uid}",
    ),
    ("Patient?_has:_id", STUDY, lambda c: f"Patient?_has:ImagingStudy:patient:_id={c.t.study}"),
    ("ImagingStudy?patient", STUDIES, lambda c: f"ImagingStudy?patient={c.t.patient}"),
    ("ImagingStudy?subject", STUDIES, lambda c: f"ImagingStudy?subject=Patient/{c.t.patient}"),
    ("ImagingStudy?patient.family", STUDIES, lambda c: f"ImagingStudy?patient.family={c.t.family}"),
    (
        "ImagingStudy?subject:Patient.identifier",
        STUDIES,
        lambda c: f"ImagingStudy?subject:Patient.identifier={c.t.national_id}",
    ),
    (
        "ImagingStudy?patient&_summary=count",
        STUDIES,
        lambda c: f"ImagingStudy?patient={c.t.patient}&_summary=count",
    ),
    (
        "Endpoint?_has:patient",
        STUDIES,
        lambda c: f"Endpoint?_has:ImagingStudy:endpoint:patient={c.t.patient}",
    ),
    ("ImagingStudy?_id", STUDY, lambda c: f"ImagingStudy?_id={c.t.study}"),
    ("ImagingStudy?_id=own,other", STUDY, lambda c: f"ImagingStudy?_id={c.own.study},{c.t.study}"),
    ("ImagingStudy?identifier=uid", STUDY, lambda c: f"ImagingStudy?identifier=urn:oid:{c.t.study_uid}"),
    ("ImagingStudy?identifier=accession", STUDY, lambda c: f"ImagingStudy?identifier={c.t.accession}"),
    ("ImagingStudy?series", STUDY, lambda c: f"ImagingStudy?series={c.t.series_uid}"),
    (
        "ImagingStudy?_id&_include",
        STUDY,
        lambda c: f"ImagingStudy?_id={c.t.study}&_include=ImagingStudy:subject",
    ),
    (
        "Endpoint?_has:identifier",
        STUDY,
        lambda c: f"Endpoint?_has:ImagingStudy:endpoint:identifier=urn:oid:{c.t.study_uid}",
    ),
    ("Patient", NONE, lambda c: "Patient"),
    ("ImagingStudy", NONE, lambda c: "ImagingStudy"),
    (
        "ImagingStudy?_include",
        NONE,
        lambda c: "ImagingStudy?_include=ImagingStudy:subject&_include=ImagingStudy:endpoint",
    ),
    ("Patient?_revinclude", NONE, lambda c: "Patient?_revinclude=ImagingStudy:subject"),
    ("Patient?_has:modality", NONE, lambda c: "Patient?_has:ImagingStudy:subject:modality=US,DX,CT"),
    ("Endpoint?_revinclude", NONE, lambda c: "Endpoint?_revinclude=ImagingStudy:endpoint"),
    ("Organization?_revinclude", NONE, lambda c: "Organization?_revinclude=Patient:organization"),
)
# No demo Patient links to another, so even the system token finds nothing: kept so that data which does
# cannot leak unnoticed.
UNREACHABLE_SEARCHES = {"Patient?link"}
POST_SEARCHES = {
    "Patient?family",
    "Patient?_has:identifier",
    "ImagingStudy?patient",
    "ImagingStudy?patient.family",
    "ImagingStudy?identifier=uid",
    "ImagingStudy",
}


def _search_get(criteria: Callable[[Ctx], str]) -> Callable[[Ctx], Req]:
    return lambda c: get(f"/fhir/{criteria(c)}")


def _search_post(criteria: Callable[[Ctx], str]) -> Callable[[Ctx], Req]:
    def build(c: Ctx) -> Req:
        resource_type, _, query = criteria(c).partition("?")
        pairs = tuple(tuple(p.split("=", 1)) for p in query.split("&") if p) if query else ()
        return Req("POST", f"/fhir/{resource_type}/_search", form=pairs, headers=(FORM,))  # type: ignore[arg-type]

    return build


# --- DICOMweb: the proxy path of a study, as QIDO-RS and WADO-RS ----------------------------------------


def _dicomweb(path: Callable[[Ctx], str], *headers: tuple[str, str]) -> Callable[[Ctx], Req]:
    return lambda c: get(f"/dicomweb/{c.t.endpoint}/{path(c)}", *headers)


def _dicomweb_listing(index: int, resource: str) -> Callable[[Ctx], Req]:
    return lambda c: get(f"/dicomweb/{c.world.endpoints[index]}/{resource}")


DICOM_JSON = ("Accept", "application/dicom+json")
DICOMWEB: tuple[Probe, ...] = (
    Probe(
        "studies/{uid}/metadata", STUDY, _dicomweb(lambda c: f"studies/{c.t.study_uid}/metadata", DICOM_JSON)
    ),
    Probe("studies/{uid}/series", STUDY, _dicomweb(lambda c: f"studies/{c.t.study_uid}/series", DICOM_JSON)),
    Probe(
        "studies/{uid}/instances",
        STUDY,
        _dicomweb(lambda c: f"studies/{c.t.study_uid}/instances", DICOM_JSON),
    ),
    Probe(
        "series/{series}/metadata",
        STUDY,
        _dicomweb(lambda c: f"studies/{c.t.study_uid}/series/{c.t.series_uid}/metadata", DICOM_JSON),
    ),
    Probe(
        "instances/{instance}/metadata",
        STUDY,
        _dicomweb(
            lambda c: (
                f"studies/{c.t.study_uid}/series/{c.t.series_uid}/instances/{c.t.instance_uid}/metadata"
            ),
            DICOM_JSON,
        ),
    ),
    Probe(
        "studies/{uid} (retrieve)",
        STUDY,
        _dicomweb(
            lambda c: f"studies/{c.t.study_uid}", ("Accept", 'multipart/related; type="application/dicom"')
        ),
    ),
    Probe(
        "instances/{instance}/rendered",
        STUDY,
        _dicomweb(
            lambda c: (
                f"studies/{c.t.study_uid}/series/{c.t.series_uid}/instances/{c.t.instance_uid}/rendered"
            ),
            ("Accept", "image/jpeg"),
        ),
    ),
    Probe(
        "studies?StudyInstanceUID", STUDY, _dicomweb(lambda c: f"studies?StudyInstanceUID={c.t.study_uid}")
    ),
    Probe("series?StudyInstanceUID", STUDY, _dicomweb(lambda c: f"series?StudyInstanceUID={c.t.study_uid}")),
    Probe(
        "instances?StudyInstanceUID",
        STUDY,
        _dicomweb(lambda c: f"instances?StudyInstanceUID={c.t.study_uid}"),
    ),
    Probe(
        "instances?SeriesInstanceUID",
        STUDY,
        _dicomweb(lambda c: f"instances?SeriesInstanceUID={c.t.series_uid}"),
    ),
    Probe("studies?AccessionNumber", STUDY, _dicomweb(lambda c: f"studies?AccessionNumber={c.t.accession}")),
    Probe("studies?PatientID", STUDIES, _dicomweb(lambda c: f"studies?PatientID={c.t.dicom_patient_id}")),
    Probe(
        "studies?StudyInstanceUID=own,other",
        STUDY,
        _dicomweb(lambda c: f"studies?StudyInstanceUID={c.own.study_uid},{c.t.study_uid}"),
    ),
    Probe(
        "studies?PatientBirthDate",
        STUDIES,
        _dicomweb(lambda c: f"studies?PatientBirthDate={c.t.birth_date.replace('-', '')}"),
    ),
    # A QIDO wildcard reaches Orthanc as a wildcard: the system token finds B's studies by name prefix, a
    # patient token only its own.
    Probe("studies?PatientName", STUDIES, _dicomweb(lambda c: f"studies?PatientName={c.t.family}*")),
    Probe("series?PatientID", STUDIES, _dicomweb(lambda c: f"series?PatientID={c.t.dicom_patient_id}")),
    *(Probe(f"studies@hospital-{i + 1}", NONE, _dicomweb_listing(i, "studies")) for i in range(3)),
    *(Probe(f"instances@hospital-{i + 1}", NONE, _dicomweb_listing(i, "instances")) for i in range(3)),
)


def _federated(probe: Probe) -> Probe:
    """The same request at the federated root, which routes by Study UID across hospitals."""

    def build(c: Ctx) -> Req:
        req = probe.build(c)
        return replace(req, path=req.path.replace(f"/dicomweb/{c.t.endpoint}/", "/dicomweb/federated/", 1))

    return Probe(f"{probe.name} @federated", probe.aspect, build, probe.reaches, probe.operator)


FEDERATED_DICOMWEB: tuple[Probe, ...] = (
    *(_federated(p) for p in DICOMWEB if "@hospital" not in p.name),
    Probe("studies@federated", NONE, lambda c: get("/dicomweb/federated/studies")),
    Probe("instances@federated", NONE, lambda c: get("/dicomweb/federated/instances")),
)

# --- the table -------------------------------------------------------------------------------------------

_TERMINOLOGY = (
    "terminology shipped with the server (CodeSystem/ValueSet/ConceptMap/NamingSystem): no patient data"
)
_OAUTH = "OAuth endpoint: authenticates clients itself, answers with tokens of the caller only"
_STATIC = "static page or asset, the same for everyone"
_DISCOVERY = "discovery document: server configuration only"
_SHL_CAPABILITY = (
    "SMART Health Link capability URL (public by the SHL IG): the random manifest id or file location is the "
    "secret; an unknown one is a 404 (the $shl management routes, which hand them out, are probed)"
)


def _terminology(resource_type: str, *operations: str) -> dict[str, Entry]:
    base = f"/fhir/{resource_type}"
    defined = {
        f"{m} {path}": nodata(
            _TERMINOLOGY, Req(m, path.replace("{resource_id}", "x"), json={} if m == "POST" else None)
        )
        for op in operations
        for path in (f"{base}/${op}", f"{base}/{{resource_id}}/${op}")
        for m in ("GET", "POST")
    }
    return {
        **defined,
        f"GET {base}/${{name}}": nodata(_TERMINOLOGY, f"{base}/$lookup"),
        f"POST {base}/${{name}}": nodata(_TERMINOLOGY, Req("POST", f"{base}/$lookup", json={})),
        f"GET {base}/{{resource_id}}/${{name}}": nodata(_TERMINOLOGY, f"{base}/x/$lookup"),
        f"POST {base}/{{resource_id}}/${{name}}": nodata(
            _TERMINOLOGY, Req("POST", f"{base}/x/$lookup", json={})
        ),
        f"GET {base}": nodata(_TERMINOLOGY, base),
        f"POST {base}": nodata(_TERMINOLOGY + "; read-only (405)", Req("POST", base, json={})),
        f"GET {base}/{{resource_id}}": nodata(_TERMINOLOGY, f"{base}/x"),
        **{
            f"{m} {base}/{{resource_id}}": nodata(
                _TERMINOLOGY + "; read-only (405)", Req(m, f"{base}/x", json={})
            )
            for m in ("PUT", "PATCH", "DELETE")
        },
    }


def _each(methods: str, make: Callable[[str], Entry], path: str) -> dict[str, Entry]:
    return {f"{m} {path}": make(m) for m in methods.split("|")}


BATCH_PROBES = (
    Probe(
        "batch GET Patient/{id}",
        PATIENT,
        lambda c: Req("POST", "/fhir", json=batch(entry("GET", f"Patient/{c.t.patient}"))),
    ),
    Probe(
        "batch GET ImagingStudy/{id}",
        STUDY,
        lambda c: Req("POST", "/fhir", json=batch(entry("GET", f"ImagingStudy/{c.t.study}"))),
    ),
    # Search inside a batch is refused today (not-supported) for everyone, so these reach no data; kept so
    # that supporting it cannot open a leak unnoticed.
    Probe(
        "batch GET ImagingStudy?patient",
        STUDIES,
        lambda c: Req("POST", "/fhir", json=batch(entry("GET", f"ImagingStudy?patient={c.t.patient}"))),
        reaches=False,
    ),
    Probe(
        "batch GET Patient?family",
        PATIENT,
        lambda c: Req("POST", "/fhir", json=batch(entry("GET", f"Patient?family={c.t.family}"))),
        reaches=False,
    ),
    Probe(
        "batch GET ImagingStudy?identifier",
        STUDY,
        lambda c: Req(
            "POST", "/fhir", json=batch(entry("GET", f"ImagingStudy?identifier=urn:oid:{c.t.study_uid}"))
        ),
        reaches=False,
    ),
    # Conditional references and ifNoneExist are searches too: they must only ever match what the caller
    # may see, and answer alike whether the other patient's data exists or not.
    Probe(
        "transaction conditional reference",
        PATIENT,
        lambda c: Req(
            "POST",
            "/fhir",
            json=transaction(
                entry(
                    "POST",
                    "ImagingStudy",
                    {
                        **study_body(c.own.patient),
                        "subject": {"reference": f"Patient?identifier={c.t.national_id}"},
                    },
                ),
            ),
        ),
        reaches=False,
    ),
    Probe(
        "transaction ifNoneExist",
        STUDY,
        lambda c: Req(
            "POST",
            "/fhir",
            json=transaction(
                entry(
                    "POST",
                    "ImagingStudy",
                    study_body(c.own.patient),
                    if_none_exist=f"identifier=urn:oid:{c.t.study_uid}",
                ),
            ),
        ),
        reaches=False,
    ),
    Probe(
        "batch PUT spare study",
        STUDY,
        lambda c: Req(
            "POST",
            "/fhir",
            json=batch(
                entry(
                    "PUT",
                    f"ImagingStudy/{c.t.spare_study}",
                    study_body(c.t.patient, study_id=c.t.spare_study, uid=c.t.spare_uid),
                )
            ),
        ),
        reaches=False,
    ),
)

ROUTES: dict[str, Entry] = {
    # -- documentation and discovery
    "GET /openapi.json": nodata("OpenAPI description of the routes", "/openapi.json", 200),
    "GET /docs": nodata(_STATIC, "/docs", 200),
    "GET /docs/oauth2-redirect": nodata(_STATIC, "/docs/oauth2-redirect", 200),
    "GET /docs/assets/{name}": nodata(_STATIC, "/docs/assets/swagger-ui.css", 200),
    "GET /fhir/.well-known/smart-configuration": nodata(
        _DISCOVERY, "/fhir/.well-known/smart-configuration", 200
    ),
    "GET /auth/.well-known/openid-configuration": nodata(
        _DISCOVERY, "/auth/.well-known/openid-configuration", 200
    ),
    "GET /fhir/metadata": nodata("CapabilityStatement: server configuration only", "/fhir/metadata", 200),
    # -- the authorization server
    "GET /auth/jwks": nodata("public keys of the token signer", "/auth/jwks", 200),
    "GET /auth/static/auth.css": nodata(_STATIC, "/auth/static/auth.css", 200),
    "GET /auth/authorize": nodata("starts a sign-in: names a client, no patient", "/auth/authorize", 400),
    "POST /auth/authorize": nodata(
        "starts a sign-in: names a client, no patient", Req("POST", "/auth/authorize"), 400
    ),
    "POST /auth/token": nodata(_OAUTH, Req("POST", "/auth/token"), 400),
    "POST /auth/introspect": nodata(_OAUTH, Req("POST", "/auth/introspect"), 401),
    "POST /auth/revoke": nodata(_OAUTH, Req("POST", "/auth/revoke"), 401),
    "POST /auth/login": nodata(
        "password form of a pending sign-in: names a user, no patient", Req("POST", "/auth/login"), 400
    ),
    "POST /auth/consent": nodata(
        "consent form: decides scopes of a pending sign-in (and would end it, so it is not probed)",
        Req("POST", "/auth/consent"),
        400,
    ),
    "GET /auth/patients": probed(
        Probe(
            "picker q=family",
            PATIENT,
            lambda c: get(f"/auth/patients?tx={c.tx}&q={c.t.family}"),
            reaches=False,
        ),
        Probe(
            "picker q=id", PATIENT, lambda c: get(f"/auth/patients?tx={c.tx}&q={c.t.patient}"), reaches=False
        ),
        public=400,
    ),
    "POST /auth/patient": probed(
        Probe(
            "choose patient",
            PATIENT,
            lambda c: Req("POST", "/auth/patient", form=(("tx", c.tx), ("patient", c.t.patient))),
            reaches=False,
        ),
        public=400,
    ),
    # -- the administration API (admin scope)
    "GET /auth/admin/users": probed(Probe("users", NONE, lambda c: get("/auth/admin/users"))),
    "POST /auth/admin/users": probed(
        Probe(
            "add user bound to patient",
            ADMIN,
            lambda c: Req(
                "POST",
                "/auth/admin/users",
                json={
                    "username": c.t.new_user,
                    "password": "x" * 20,
                    "role": "patient",
                    "fhirUser": f"Patient/{c.t.patient}",
                },
            ),
            reaches=False,
        )
    ),
    "DELETE /auth/admin/users/{username}": probed(
        Probe(
            "delete spare user",
            ADMIN,
            lambda c: Req("DELETE", f"/auth/admin/users/{c.t.spare_user}"),
            reaches=False,
        )
    ),
    "PATCH /auth/admin/users/{username}": probed(
        Probe(
            "enable spare user",
            ADMIN,
            lambda c: Req("PATCH", f"/auth/admin/users/{c.t.spare_user}", json={"disabled": False}),
            operator=True,
        )
    ),
    "POST /auth/admin/launch": probed(
        Probe(
            "launch for patient",
            ADMIN,
            lambda c: Req("POST", "/auth/admin/launch", json={"patient": c.t.patient}),
            operator=True,
        )
    ),
    "GET /auth/admin/clients": nodata("registered apps: no patient data (admin only)", "/auth/admin/clients"),
    "POST /auth/admin/clients": nodata(
        "registers an app: no patient data (admin only)", Req("POST", "/auth/admin/clients", json={})
    ),
    "DELETE /auth/admin/clients/{client_id}": nodata(
        "removes an app (admin only)", Req("DELETE", "/auth/admin/clients/x")
    ),
    "PATCH /auth/admin/clients/{client_id}": nodata(
        "disables an app (admin only)", Req("PATCH", "/auth/admin/clients/x", json={"disabled": True})
    ),
    "POST /auth/admin/keys/rotate": nodata(
        "rotates signing keys (admin only)", Req("POST", "/auth/admin/keys/rotate")
    ),
    "GET /admin/hospitals": probed(Probe("hospitals", NONE, lambda c: get("/admin/hospitals"))),
    "POST /admin/hospitals": nodata(
        "registers a hospital's PACS (admin only)", Req("POST", "/admin/hospitals", json={})
    ),
    "PATCH /admin/hospitals/{hospital}": nodata(
        "changes a hospital's PACS registration (admin only)", Req("PATCH", "/admin/hospitals/x", json={})
    ),
    "POST /admin/hospitals/{hospital}/sync": nodata(
        "syncs one hospital's PACS now, answers counts (admin only)", Req("POST", "/admin/hospitals/x/sync")
    ),
    "GET /admin/patient-matches": probed(
        Probe("patient matches", NONE, lambda c: get("/admin/patient-matches"))
    ),
    "POST /admin/patient-matches/{candidate_id}/dismiss": nodata(
        "dismisses a possible-duplicate candidate (admin only)",
        Req("POST", "/admin/patient-matches/x/dismiss"),
    ),
    # A preview never writes; a caller must not learn from it whether another patient exists.
    "POST /fhir/Patient/$merge": probed(
        Probe(
            "merge preview",
            PATIENT,
            lambda c: Req("POST", "/fhir/Patient/$merge", json=merge_preview(c.t.patient, c.own.patient)),
            reaches=False,
        )
    ),
    # -- AuditEvent (admin scope): what the server recorded about each patient's data
    "GET /fhir/AuditEvent": probed(
        Probe(
            "AuditEvent?patient",
            ADMIN,
            lambda c: get(f"/fhir/AuditEvent?patient={c.t.patient}"),
            operator=True,
        ),
        Probe(
            "AuditEvent?entity",
            ADMIN,
            lambda c: get(f"/fhir/AuditEvent?entity=Patient/{c.t.patient}"),
            operator=True,
        ),
    ),
    "GET /fhir/AuditEvent/{resource_id}": probed(
        Probe("AuditEvent/{id}", ADMIN, lambda c: get(f"/fhir/AuditEvent/{c.t.audit_event}"), operator=True)
    ),
    **_each(
        "POST|PUT|PATCH|DELETE",
        lambda m: probed(
            Probe(
                f"{m} AuditEvent/{{id}}",
                ADMIN,
                lambda c: Req(m, f"/fhir/AuditEvent/{c.t.audit_event}", json={}),
                reaches=False,
            )
        ),
        "/fhir/AuditEvent/{resource_id}",
    ),
    **_each(
        "POST|PUT|PATCH|DELETE",
        lambda m: nodata(
            "AuditEvents are written by the server only (405)", Req(m, "/fhir/AuditEvent", json={})
        ),
        "/fhir/AuditEvent",
    ),
    # -- subscriptions (each is its creator's: the system token made the Things' ones at set-up)
    "POST /fhir/Subscription": probed(
        Probe(
            "subscribe to patient",
            PATIENT,
            lambda c: Req("POST", "/fhir/Subscription", json=subscription_body(c.t.patient)),
        )
    ),
    "GET /fhir/Subscription": probed(Probe("list subscriptions", NONE, lambda c: get("/fhir/Subscription"))),
    "GET /fhir/Subscription/{resource_id}": probed(
        Probe("read subscription", PATIENT, lambda c: get(f"/fhir/Subscription/{c.t.subscription}"))
    ),
    "PUT /fhir/Subscription/{resource_id}": probed(
        Probe(
            "update subscription",
            PATIENT,
            lambda c: Req(
                "PUT",
                f"/fhir/Subscription/{c.t.subscription}",
                json=subscription_body(c.t.patient, c.t.subscription),
            ),
        )
    ),
    "DELETE /fhir/Subscription/{resource_id}": probed(
        Probe(
            "delete subscription",
            PATIENT,
            lambda c: Req("DELETE", f"/fhir/Subscription/{c.t.spare_subscription}"),
            reaches=False,
        )
    ),
    "GET /fhir/Subscription/{resource_id}/$status": probed(
        Probe("status", PATIENT, lambda c: get(f"/fhir/Subscription/{c.t.subscription}/$status"))
    ),
    "GET /fhir/Subscription/{resource_id}/$events": probed(
        Probe("events", PATIENT, lambda c: get(f"/fhir/Subscription/{c.t.subscription}/$events"))
    ),
    **_each(
        "GET|POST",
        lambda m: probed(
            Probe(
                "binding token",
                PATIENT,
                lambda c: Req(m, f"/fhir/Subscription/{c.t.subscription}/$get-ws-binding-token"),
            )
        ),
        "/fhir/Subscription/{resource_id}/$get-ws-binding-token",
    ),
    "GET /fhir/SubscriptionTopic": nodata("the topics this server publishes", "/fhir/SubscriptionTopic"),
    "GET /fhir/SubscriptionTopic/{resource_id}": nodata(
        "one topic this server publishes", "/fhir/SubscriptionTopic/imaging-study-available"
    ),
    "GET /subscriptions/websocket": nodata(
        "websocket of subscriptions: bound by a single-use token, answers nothing over plain HTTP",
        "/subscriptions/websocket",
        404,
    ),
    # -- SMART Health Links: management ($shl…) under /fhir, the old QR addresses, the public side
    "POST /fhir/Patient/{patient_id}/$shl": probed(
        Probe(
            "create link",
            PATIENT,
            lambda c: Req("POST", f"/fhir/Patient/{c.t.patient}/$shl", json=SHL_PARAMETERS),
        )
    ),
    "POST /fhir/ImagingStudy/{study_id}/$shl": probed(
        Probe(
            "create study link",
            STUDY,
            lambda c: Req("POST", f"/fhir/ImagingStudy/{c.t.study}/$shl", json=SHL_PARAMETERS),
        )
    ),
    "GET /fhir/Patient/{patient_id}/$shl": probed(
        Probe("list links", PATIENT, lambda c: get(f"/fhir/Patient/{c.t.patient}/$shl"))
    ),
    "GET /fhir/Patient/{patient_id}/$shl-log": probed(
        Probe("log", PATIENT, lambda c: get(f"/fhir/Patient/{c.t.patient}/$shl-log?id={c.t.link}")),
        Probe(
            "log of their link via own patient",
            PATIENT,
            lambda c: get(f"/fhir/Patient/{c.own.patient}/$shl-log?id={c.t.link}"),
            reaches=False,
        ),
        Probe(
            "log of study link",
            STUDY,
            lambda c: get(f"/fhir/Patient/{c.t.patient}/$shl-log?id={c.t.study_link}"),
        ),
    ),
    "GET /fhir/Patient/{patient_id}/$shl-qr": probed(
        Probe("qr", PATIENT, lambda c: get(f"/fhir/Patient/{c.t.patient}/$shl-qr?id={c.t.link}&format=svg")),
        # A study link's QR opens the study to anyone holding it: only for whom may see the study.
        Probe(
            "qr of study link",
            STUDY,
            lambda c: get(f"/fhir/Patient/{c.t.patient}/$shl-qr?id={c.t.study_link}&format=svg"),
        ),
    ),
    "POST /fhir/Patient/{patient_id}/$shl-revoke": probed(
        Probe(
            "revoke",
            PATIENT,
            lambda c: Req("POST", f"/fhir/Patient/{c.t.patient}/$shl-revoke?id={c.t.revocable_link}"),
            reaches=False,
        ),
        Probe(
            "revoke their link via own patient",
            PATIENT,
            lambda c: Req("POST", f"/fhir/Patient/{c.own.patient}/$shl-revoke?id={c.t.revocable_link}"),
            reaches=False,
        ),
        # Runs after every read of the matrix (a write: phase 1), so the study link's QR and log rows see it
        # active.
        Probe(
            "revoke study link",
            STUDY,
            lambda c: Req("POST", f"/fhir/Patient/{c.t.patient}/$shl-revoke?id={c.t.study_link}"),
            reaches=False,
        ),
    ),
    "GET /api/patients/{patient_id}/qr": probed(
        Probe("legacy patient qr", PATIENT, lambda c: get(f"/api/patients/{c.t.patient}/qr?format=svg"))
    ),
    "GET /api/studies/{study_id}/qr": probed(
        Probe("legacy study qr", STUDY, lambda c: get(f"/api/studies/{c.t.study}/qr?format=svg"))
    ),
    # The old app's API (fhir_server.legacy.api): reads through the caller's store; its writes are tested in
    # tests/fhir_server/legacy (they would add patients and studies to this world).
    "GET /api/status": nodata("the old app's health check: up, database connected", "/api/status", 200),
    "GET /api/hospitals": probed(Probe("old hospitals", NONE, lambda c: get("/api/hospitals"))),
    "GET /api/patients": probed(Probe("old patients", NONE, lambda c: get("/api/patients"))),
    "GET /api/patients/{patient_id}": probed(
        Probe("old patient", PATIENT, lambda c: get(f"/api/patients/{c.t.patient}")),
        Probe("old patient by old id", PATIENT, lambda c: get(f"/api/patients/{c.t.dicom_patient_id}")),
    ),
    "GET /api/hospitals/{hospital_id}/studies": probed(
        *(
            Probe(f"old studies of HOS-00{i}", NONE, lambda c, i=i: get(f"/api/hospitals/HOS-00{i}/studies"))
            for i in (1, 2, 3)
        )
    ),
    "GET /api/federation/query": probed(
        Probe(
            "old federation query by national id",
            PATIENT,
            lambda c: get(f"/api/federation/query?national_id={quote(c.t.national_id)}"),
        ),
        Probe(
            "old federation query by old id",
            PATIENT,
            lambda c: get(f"/api/federation/query?patient_id={quote(c.t.dicom_patient_id)}"),
        ),
    ),
    "POST /api/hospitals": nodata(
        "registers a hospital (Organization, Endpoint): no patient data",
        Req("POST", "/api/hospitals", json={"id": "HOS-LEAK", "name": "Leak"}),
    ),
    "POST /api/patients": nodata(
        "registers a patient: duplicates are looked for among what the caller sees (tests/…/legacy)",
        Req("POST", "/api/patients", json={"national_id": "1", "first_name": "A", "last_name": "B"}),
    ),
    "POST /api/hospitals/{hospital_id}/studies": nodata(
        "registers a study: another patient's old id is 404 like an absent one (tests/fhir_server/legacy)",
        Req("POST", "/api/hospitals/HOS-001/studies", json={"patient_id": "PAT-000000"}),
    ),
    "POST /shl/m/{manifest_id}": nodata(
        _SHL_CAPABILITY,
        Req("POST", "/shl/m/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", json={"recipient": "x"}),
        404,
    ),
    "GET /shl/m/{manifest_id}": nodata(
        _SHL_CAPABILITY, "/shl/m/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA?recipient=x", 404
    ),
    "GET /shl/f/{location}": nodata(
        _SHL_CAPABILITY, "/shl/f/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 404
    ),
    "GET /shl/viewer": nodata(_STATIC, "/shl/viewer", 200),
    "GET /shl/viewer/{name}": nodata(_STATIC, "/shl/viewer/viewer.js", 200),
    # -- FHIR: batch/transaction, terminology, $validate
    "POST /fhir": probed(*BATCH_PROBES),
    "POST /fhir/": probed(
        *(
            Probe(
                p.name,
                p.aspect,
                (lambda b: lambda c: Req("POST", "/fhir/", json=b(c).json))(p.build),
                p.reaches,
            )
            for p in BATCH_PROBES[:3]
        )
    ),
    **_terminology("CodeSystem", "lookup"),
    **_terminology("ValueSet", "validate-code", "expand"),
    **_terminology("ConceptMap", "translate"),
    **_terminology("NamingSystem"),
    "POST /fhir/{resource_type}/$validate": probed(
        Probe(
            "validate study of patient",
            PATIENT,
            lambda c: Req("POST", "/fhir/ImagingStudy/$validate", json=study_body(c.t.patient)),
            reaches=False,
        )
    ),
    "POST /fhir/{resource_type}/{resource_id}/$validate": probed(
        Probe(
            "validate Patient/{id}",
            PATIENT,
            lambda c: Req(
                "POST",
                f"/fhir/Patient/{c.t.patient}/$validate",
                json={"resourceType": "Patient", "id": c.t.patient},
            ),
            reaches=False,
        ),
        Probe(
            "validate ImagingStudy/{id}",
            STUDY,
            lambda c: Req(
                "POST",
                f"/fhir/ImagingStudy/{c.t.study}/$validate",
                json=study_body(c.t.patient, study_id=c.t.study),
            ),
            reaches=False,
        ),
    ),
    # -- FHIR REST
    "GET /fhir/_history": probed(Probe("system history", NONE, lambda c: get("/fhir/_history"))),
    "GET /fhir/{resource_type}/_history": probed(
        Probe("ImagingStudy history", NONE, lambda c: get("/fhir/ImagingStudy/_history")),
        Probe("Patient history", NONE, lambda c: get("/fhir/Patient/_history")),
    ),
    "POST /fhir/{resource_type}": probed(
        Probe(
            "create study for patient",
            PATIENT,
            lambda c: Req(
                "POST", "/fhir/ImagingStudy", json=study_body(c.t.patient), headers=(FHIR_JSON, MINIMAL)
            ),
            reaches=False,
        ),
        Probe(
            "conditional create If-None-Exist identifier",
            STUDY,
            lambda c: Req(
                "POST",
                "/fhir/ImagingStudy",
                json=study_body(c.own.patient),
                headers=(FHIR_JSON, MINIMAL, ("If-None-Exist", f"identifier=urn:oid:{c.t.study_uid}")),
            ),
            reaches=False,
        ),
        Probe(
            "conditional create If-None-Exist patient",
            STUDIES,
            lambda c: Req(
                "POST",
                "/fhir/ImagingStudy",
                json=study_body(c.own.patient),
                headers=(FHIR_JSON, MINIMAL, ("If-None-Exist", f"patient={c.t.patient}")),
            ),
            reaches=False,
        ),
    ),
    "PUT /fhir/{resource_type}": probed(
        Probe(
            "conditional update spare study",
            STUDY,
            lambda c: Req(
                "PUT",
                f"/fhir/ImagingStudy?identifier=urn:oid:{c.t.spare_uid}",
                json=study_body(c.t.patient, uid=c.t.spare_uid),
                headers=(FHIR_JSON, MINIMAL),
            ),
            reaches=False,
        )
    ),
    "DELETE /fhir/{resource_type}": probed(
        Probe(
            "conditional delete spare study",
            STUDY,
            lambda c: Req("DELETE", f"/fhir/ImagingStudy?identifier=urn:oid:{c.t.spare_uid}"),
            reaches=False,
        )
    ),
    "GET /fhir/{resource_type}/{resource_id}": probed(
        Probe("read Patient", PATIENT, lambda c: get(f"/fhir/Patient/{c.t.patient}")),
        Probe("read ImagingStudy", STUDY, lambda c: get(f"/fhir/ImagingStudy/{c.t.study}")),
        Probe("read spare ImagingStudy", STUDY, lambda c: get(f"/fhir/ImagingStudy/{c.t.spare_study}")),
        # Gone (410) only for whom may see it; for anyone else a deleted study is as absent as any.
        Probe("read deleted ImagingStudy", STUDY, lambda c: get(f"/fhir/ImagingStudy/{c.t.deleted_study}")),
        Probe("read Patient _summary", PATIENT, lambda c: get(f"/fhir/Patient/{c.t.patient}?_summary=true")),
        # A conditional read must not answer 304 (or 412) before deciding whether the caller may see it.
        Probe(
            "read Patient If-None-Match", PATIENT, lambda c: get(f"/fhir/Patient/{c.t.patient}", NOT_CHANGED)
        ),
        Probe(
            "read ImagingStudy If-Modified-Since",
            STUDY,
            lambda c: get(
                f"/fhir/ImagingStudy/{c.t.study}", ("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")
            ),
        ),
    ),
    "PUT /fhir/{resource_type}/{resource_id}": probed(
        Probe(
            "update spare study",
            STUDY,
            lambda c: Req(
                "PUT",
                f"/fhir/ImagingStudy/{c.t.spare_study}",
                json=study_body(c.t.patient, study_id=c.t.spare_study, uid=c.t.spare_uid),
                headers=(FHIR_JSON, MINIMAL),
            ),
            reaches=False,
        )
    ),
    "PATCH /fhir/{resource_type}/{resource_id}": probed(
        Probe(
            "patch spare study",
            STUDY,
            lambda c: Req(
                "PATCH",
                f"/fhir/ImagingStudy/{c.t.spare_study}",
                json=JSON_PATCH,
                headers=(("Content-Type", "application/json-patch+json"), MINIMAL),
            ),
            reaches=False,
        )
    ),
    "DELETE /fhir/{resource_type}/{resource_id}": probed(
        Probe(
            "delete spare study",
            STUDY,
            lambda c: Req("DELETE", f"/fhir/ImagingStudy/{c.t.spare_study}"),
            reaches=False,
        )
    ),
    "GET /fhir/{resource_type}/{resource_id}/_history": probed(
        Probe("Patient history", PATIENT, lambda c: get(f"/fhir/Patient/{c.t.patient}/_history")),
        Probe("ImagingStudy history", STUDY, lambda c: get(f"/fhir/ImagingStudy/{c.t.study}/_history")),
        Probe(
            "deleted ImagingStudy history",
            STUDY,
            lambda c: get(f"/fhir/ImagingStudy/{c.t.deleted_study}/_history"),
        ),
    ),
    "GET /fhir/{resource_type}/{resource_id}/_history/{version_id}": probed(
        Probe("vread Patient", PATIENT, lambda c: get(f"/fhir/Patient/{c.t.patient}/_history/1")),
        Probe("vread ImagingStudy", STUDY, lambda c: get(f"/fhir/ImagingStudy/{c.t.study}/_history/1")),
        Probe(
            "vread deleted ImagingStudy",
            STUDY,
            lambda c: get(f"/fhir/ImagingStudy/{c.t.deleted_study}/_history/1"),
        ),
    ),
    "GET /fhir/{resource_type}": probed(
        *(
            Probe(name, aspect, _search_get(q), name not in UNREACHABLE_SEARCHES)
            for name, aspect, q in SEARCHES
        )
    ),
    "POST /fhir/{resource_type}/_search": probed(
        *(
            Probe(f"POST {name}", aspect, _search_post(q))
            for name, aspect, q in SEARCHES
            if name in POST_SEARCHES
        )
    ),
    "GET /fhir/Patient/{resource_id}/$everything": probed(
        Probe("$everything", PATIENT, lambda c: get(f"/fhir/Patient/{c.t.patient}/$everything")),
        Probe(
            "$everything _type",
            PATIENT,
            lambda c: get(f"/fhir/Patient/{c.t.patient}/$everything?_type=ImagingStudy"),
        ),
    ),
    # -- operations
    "GET /health/live": nodata("liveness: says only 'pass'", "/health/live", 200),
    "GET /health/ready": nodata("readiness: database ping only", "/health/ready", 200),
    "GET /metrics": probed(Probe("metrics", NONE, lambda c: get("/metrics"))),
    "GET /health/orthanc": probed(Probe("orthanc health", NONE, lambda c: get("/health/orthanc"))),
    # -- DICOMweb
    "GET /dicomweb/{endpoint_id}/{path:path}": probed(*DICOMWEB),
    "GET /dicomweb/federated/{path:path}": probed(*FEDERATED_DICOMWEB),
    # -- the dashboard
    "GET /": nodata("redirect to the dashboard page", "/", 308),
    "GET /dashboard": nodata("redirect to the dashboard page", "/dashboard", 308),
    "GET /patient-access/{patient_id}": probed(
        Probe("old patient address", PATIENT, lambda c: get(f"/patient-access/{c.t.patient}"), reaches=False),
        public=308,
    ),
    "GET /federation-access": nodata("redirect to the dashboard page", "/federation-access", 308),
    "GET /app/api/config": nodata("the dashboard's sign-in configuration", "/app/api/config", 200),
    "GET /app/api/hospitals": probed(Probe("hospitals", NONE, lambda c: get("/app/api/hospitals"))),
    **_each(
        "GET|POST|PUT|DELETE|PATCH",
        lambda m: probed(
            Probe(
                f"{m} unknown API naming patient",
                PATIENT,
                lambda c: Req(m, f"/app/api/patients/{c.t.patient}"),
                reaches=False,
            )
        ),
        "/app/api/{rest:path}",
    ),
    "GET /app/static/{name:path}": nodata(_STATIC, "/app/static/app.css", 200),
    "GET /app": nodata("redirect to the dashboard page", "/app", 308),
    "GET /app/{page:path}": nodata(
        _STATIC + " (the page shell; data comes from the probed APIs)", "/app/patients/x", 200
    ),
    # -- the image viewer: public pages and assets; the studies it opens come from the probed launch API
    "GET /viewer/api/launch": probed(
        Probe(
            "IID patient",
            STUDIES,
            lambda c: get(f"/viewer/api/launch?requestType=PATIENT&patientID={c.t.patient}"),
        ),
        Probe(
            "IID study",
            STUDY,
            lambda c: get(f"/viewer/api/launch?requestType=STUDY&studyUID={c.t.study_uid}"),
        ),
        Probe(
            "IID accession",
            STUDY,
            lambda c: get(f"/viewer/api/launch?requestType=STUDY&accessionNumber={c.t.accession}"),
        ),
    ),
    "GET /viewer": nodata("redirect to the viewer", "/viewer", 308),
    "GET /viewer/app-config.js": nodata("the viewer's configuration (no data)", "/viewer/app-config.js", 200),
    "GET /viewer/IHEInvokeImageDisplay": nodata(
        _STATIC + " (the launcher; studies come from the probed launch API)",
        "/viewer/IHEInvokeImageDisplay",
        200,
    ),
    "GET /viewer/signin": nodata(_STATIC + " (the launcher)", "/viewer/signin", 200),
    "GET /viewer/static/{name}": nodata(_STATIC, "/viewer/static/launch.js", 200),
    "GET /viewer/{path:path}": nodata(
        _STATIC + " (the installed viewer's build; 503 when it is not installed)",
        "/viewer/index.html",
        200 if installed_version(viewer_dir(Settings())) else 503,
    ),
}


# --- the rows --------------------------------------------------------------------------------------------


Row = tuple[str, Probe, str, str]  # route key, probe, caller name, target ("own" or a Thing's label)


def _rows() -> list[Row]:
    rows = []
    for key, route in ROUTES.items():
        if not isinstance(route, Probed):
            continue
        for probe in route.probes:
            for caller in CALLERS.values():
                if caller.name != "system":
                    rows.append((key, probe, caller.name, "own"))
                if probe.aspect is NONE:
                    continue
                if caller.name == "system":
                    if probe.reaches:
                        rows.append((key, probe, caller.name, "B"))
                    continue
                rows.extend((key, probe, caller.name, other) for other in caller.others)
    return rows


def _row_id(row: Row) -> str:
    key, probe, caller, target = row
    return f"{key} [{probe.name}] {caller}->{target}"


ROWS = {_row_id(row): row for row in _rows()}
assert len(ROWS) == len(_rows()), "two probes of a route share a name"


def _ask(
    matrix: Matrix, caller: Caller, probe: Probe, target: Thing, own: Thing, *, operator: bool = False
) -> Observation:
    http = matrix.operator if operator else matrix.clients[caller.name]
    assert http is not None
    request = probe.build(Ctx(target, own, matrix.sessions.get(caller.name, ""), matrix.world))
    said = request.text()
    # The request's own values become placeholders (by field, so that the other's and the absent Thing's
    # answers line up); the target's first, then the caller's own.
    replacements: dict[str, str] = {}
    for prefix, thing in (("", target), ("own.", own)):
        for name, value in thing.secrets().items():
            if value not in replacements and any(form in said for form in forms(value)):
                replacements[value] = f"<{prefix}{name}>"
    return observe(request.send(http), replacements)


def _shown(observation: Observation, fingerprints: dict[str, str], what: str) -> list[str]:
    problems = [f"{what} contains {leak}" for leak in leaked(observation, fingerprints)]
    if total := inconsistent_total(observation):
        problems.append(f"{what}: {total}")
    return problems


def judge(matrix: Matrix, row: Row) -> list[str]:
    """What the row's answers reveal that they must not; empty when nothing."""
    _key, probe, caller_name, target = row
    world = matrix.world
    caller = CALLERS[caller_name]
    own = world.things[caller.own]
    fingerprints = world.hidden_fingerprints(caller)
    if target == "own":
        answer = _ask(matrix, caller, probe, own, own)
        return _shown(answer, fingerprints, f"answer ({answer.status})")
    other = world.things[target]
    absent = absent_counterpart(caller, other, probe.aspect, world)
    if caller.name == "system":
        other_answer = _ask(matrix, caller, probe, other, own, operator=probe.operator)
        absent_answer = _ask(matrix, caller, probe, absent, own, operator=probe.operator)
        if differences(other_answer, absent_answer):
            return []
        who = "an operator" if probe.operator else "the system token"
        return [
            f"the probe reaches no data: {who} gets the same answer for {target}'s thing as for an absent "
            f"one: {other_answer.summary}"
        ]
    other_answer = _ask(matrix, caller, probe, other, own)
    problems = _shown(other_answer, fingerprints, f"answer for {target}'s thing ({other_answer.status})")
    if hidden(caller, other, probe.aspect, world):
        absent_answer = _ask(matrix, caller, probe, absent, own)
        problems = differences(other_answer, absent_answer) + problems
        problems += _shown(
            absent_answer, fingerprints, f"answer for an absent thing ({absent_answer.status})"
        )
    return problems


def _judged(matrix: Matrix, row: Row) -> list[str]:
    try:
        return judge(matrix, row)
    except Exception as exc:  # one broken row must not hide the verdicts of the others
        return [f"the row could not be run: {exc!r}"]


@pytest.fixture(scope="module")
def verdicts(matrix: Matrix, request: pytest.FixtureRequest) -> dict[str, list[str]]:
    """Every selected row, judged up front by a few threads: the server (one process, two cores here)
    waits on its database and the Orthancs, so overlapping requests keeps the matrix well under a minute.
    Rows are independent: each compares answers to requests sent back to back by one caller."""
    selected = [
        item.callspec.params["row_id"]
        for item in request.session.items
        if hasattr(item, "callspec") and "row_id" in item.callspec.params
    ]
    verdicts: dict[str, list[str]] = {}
    with ThreadPoolExecutor(max_workers=6) as pool:
        for phase in range(3):
            chosen = [rid for rid in selected if _phase(ROWS[rid]) == phase]
            verdicts.update(
                zip(chosen, pool.map(lambda rid: _judged(matrix, ROWS[rid]), chosen), strict=True)
            )
    return verdicts


def _phase(row: Row) -> int:
    """Reads first, then writes aimed at others' Things, then the callers' writes to their own Things: a
    spare study deleted by its owner would otherwise be gone (410) half-way through another row."""
    key, _probe, _caller, target = row
    if key.startswith("GET ") or key.endswith("/_search"):
        return 0
    return 2 if target == "own" else 1


@pytest.mark.parametrize("row_id", list(ROWS))
def test_leak(verdicts: dict[str, list[str]], row_id: str) -> None:
    problems = verdicts[row_id]
    assert not problems, "\n".join(problems)


# --- every route, and no token ----------------------------------------------------------------------------


def _route_keys(app: FastAPI) -> set[str]:
    try:  # FastAPI >= 0.16x includes routers lazily; this walks them as the router does
        from fastapi.routing import iter_route_contexts

        routes = [(r.methods, r.path) for r in iter_route_contexts(app.routes)]
    except ImportError:
        routes = [(getattr(r, "methods", None), getattr(r, "path", "")) for r in app.routes]
    keys = set()
    for methods, path in routes:
        chosen = set(methods or {"GET"})
        if "GET" in chosen:
            chosen.discard("HEAD")  # Starlette answers HEAD with the GET handler: the same route
        keys.update(f"{m} {path}" for m in chosen)
    # The FHIR route table's rows are answered by the HTTP adapter, not registered with the framework;
    # [base] itself is reachable with and without its trailing slash.
    for row in ROUTE_TABLE:
        paths = [f"/fhir{row.http_path}"] if row.http_path else ["/fhir", "/fhir/"]
        keys.update(f"{row.method} {path}" for path in paths)
    return keys


@pytest.fixture(scope="module")
def app_routes(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    # Built, never started: the route list needs no database.
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("routes"), auth_mode="smart"))
    return _route_keys(app)


def test_every_route_is_in_the_matrix(app_routes: set[str]) -> None:
    missing = sorted(app_routes - ROUTES.keys())
    assert not missing, (
        "routes without a row in the leak matrix (add probes, or a reason why they carry no patient data, "
        f"to ROUTES in {Path(__file__).name}): {missing}"
    )


def test_the_matrix_names_only_existing_routes(app_routes: set[str]) -> None:
    stale = sorted(ROUTES.keys() - app_routes)
    assert not stale, f"ROUTES names routes the application no longer has: {stale}"


@pytest.mark.parametrize("key", list(ROUTES))
def test_no_token(matrix: Matrix, key: str) -> None:
    """401 with a Bearer challenge on every protected route; the public ones answer as listed in ROUTES."""
    entry = ROUTES[key]
    if isinstance(entry, Probed):
        b, a = matrix.world.things["B"], matrix.world.things["A"]
        request = entry.probes[0].build(Ctx(b, a, "", matrix.world))
    else:
        request = entry.example
    assert request.method == key.split(" ", 1)[0], f"{key}: the example is a {request.method}"
    response = request.send(matrix.clients["none"])
    expected = 401 if entry.public is None else entry.public
    assert response.status_code == expected, (
        f"{key} without a token: {response.status_code} {response.text[:300]}"
    )
    if entry.public is None:
        assert response.headers.get("www-authenticate", "").startswith("Bearer"), dict(response.headers)
