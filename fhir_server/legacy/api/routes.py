"""The old app's REST API under `/api`, kept for its scripts (README "Coming from the old app"): every call
its README documents, with its JSON shapes and ids, answered from the FHIR data through the caller's
secured store (a bearer token is needed, as for /fhir; a patient's token sees only its patient).

Every answer, errors included, carries `Deprecation` (RFC 9745) and a `Link` to the FHIR call that
replaces it (`rel="successor-version"`). Errors are OperationOutcomes with the offending field in
`expression`, not the old `{"error": …}`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.services import Services
from fhir_server.security.access.store import Interaction, secured
from fhir_server.security.oauth.urls import Urls
from fhir_server.storage.errors import DatabaseUnavailable

from . import shapes
from .lookups import OLD_ID_SYSTEMS, OldApiReader
from .writes import OldApiWriter

router = APIRouter(prefix="/api", tags=["The old app's API (deprecated)"])

# RFC 9745: the moment the old API became deprecated (2026-12-05T00:00:00Z, when this server took it over).
DEPRECATED_SINCE = "@1796428800"


@dataclass(frozen=True)
class OldAnswer:
    body: Any
    status: int = 200
    successor: str | None = None  # the FHIR call, when it depends on what was found


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def deprecation_headers(request: Request, successor: str) -> dict[str, str]:
    base = Urls.for_request(request, services_of(request).settings).fhir_base
    return {"Deprecation": DEPRECATED_SINCE, "Link": f'<{base}/{successor}>; rel="successor-version"'}


def by_identifier(resource_type: str, old_id: str) -> str:
    return f"{resource_type}?{urlencode({'identifier': f'{OLD_ID_SYSTEMS[resource_type]}|{old_id}'})}"


async def answer(request: Request, successor: str, work: Callable[[], OldAnswer]) -> Response:
    """Run `work` in the thread pool (it reads the database) and add the deprecation headers."""
    try:
        done = await run_in_threadpool(work)
    except FhirError as exc:
        headers = {**exc.headers, **deprecation_headers(request, successor)}
        raise FhirError(exc.problem, exc.diagnostics, exc.expression, exc.extra_issues, headers) from None
    headers = deprecation_headers(request, done.successor or successor)
    return JSONResponse(done.body, done.status, headers=headers)


def reader(request: Request, interaction: Interaction = "search") -> OldApiReader:
    return OldApiReader(secured(request, interaction), f"{request.method} {request.url.path} (old app API)")


def _reading(request: Request, read: Callable[[OldApiReader], OldAnswer]) -> Callable[[], OldAnswer]:
    def work() -> OldAnswer:
        data = reader(request)
        done = read(data)
        data.record()
        return done

    return work


@router.get("/status")
async def status(request: Request) -> Response:
    """The old health check: public, like /health/ready, and says no more than it."""

    def work() -> OldAnswer:
        try:
            services_of(request).connection.ping()
        except DatabaseUnavailable:
            return OldAnswer({"status": "running", "database": "unavailable"}, 503)
        return OldAnswer({"status": "running", "database": "connected"})

    return await answer(request, "metadata", work)


@router.get("/hospitals")
async def list_hospitals(request: Request) -> Response:
    def read(data: OldApiReader) -> OldAnswer:
        return OldAnswer([shapes.hospital(o) for o in data.search("Organization", [])])

    return await answer(request, "Organization", _reading(request, read))


@router.post("/hospitals")
async def register_hospital(request: Request) -> Response:
    body = await request.body()

    def work() -> OldAnswer:
        data = reader(request, "create")
        old_id = OldApiWriter(services_of(request), data).register_hospital(body)
        return OldAnswer(
            {"message": "Hospital registered successfully"}, 201, by_identifier("Organization", old_id)
        )

    return await answer(request, "Organization", work)


@router.get("/patients")
async def list_patients(request: Request) -> Response:
    system = services_of(request).settings.national_id_system

    def read(data: OldApiReader) -> OldAnswer:
        return OldAnswer([shapes.patient(p, system) for p in data.search("Patient", [])])

    return await answer(request, "Patient", _reading(request, read))


@router.post("/patients")
async def register_patient(request: Request) -> Response:
    body = await request.body()

    def work() -> OldAnswer:
        old_id = OldApiWriter(services_of(request), reader(request, "create")).register_patient(body)
        return OldAnswer(
            {"message": "Patient registered", "patient_id": old_id}, 201, by_identifier("Patient", old_id)
        )

    return await answer(request, "Patient", work)


@router.get("/patients/{patient_id}")
async def get_patient(patient_id: str, request: Request) -> Response:
    system = services_of(request).settings.national_id_system

    def read(data: OldApiReader) -> OldAnswer:
        return OldAnswer(shapes.patient(data.required("Patient", patient_id), system))

    return await answer(request, by_identifier("Patient", patient_id), _reading(request, read))


@router.get("/hospitals/{hospital_id}/studies")
async def hospital_studies(hospital_id: str, request: Request) -> Response:
    system = services_of(request).settings.national_id_system

    def read(data: OldApiReader) -> OldAnswer:
        hospital = data.required("Organization", hospital_id)
        endpoints = data.search("Endpoint", [("organization", f"Organization/{hospital['id']}")])
        references = ",".join(f"Endpoint/{e['id']}" for e in endpoints)
        studies = data.search("ImagingStudy", [("endpoint", references)]) if references else []
        rows = [
            shapes.hospital_study(
                shapes.study(s, data.resolve(s.get("subject", {}).get("reference")), hospital, system)
            )
            for s in studies
        ]
        successor = "ImagingStudy?" + urlencode({"endpoint.organization": f"Organization/{hospital['id']}"})
        return OldAnswer(rows, successor=successor)

    return await answer(request, "ImagingStudy", _reading(request, read))


@router.post("/hospitals/{hospital_id}/studies")
async def register_study(hospital_id: str, request: Request) -> Response:
    body = await request.body()

    def work() -> OldAnswer:
        data = reader(request, "create")
        old_id = OldApiWriter(services_of(request), data).register_study(hospital_id, body)
        return OldAnswer(
            {"message": "Study registered", "study_id": old_id}, 201, by_identifier("ImagingStudy", old_id)
        )

    return await answer(request, "ImagingStudy", work)


@router.get("/federation/query")
async def federation_query(request: Request) -> Response:
    system = services_of(request).settings.national_id_system
    national_id = request.query_params.get("national_id")
    patient_id = request.query_params.get("patient_id")

    def read(data: OldApiReader) -> OldAnswer:
        if not national_id and not patient_id:
            raise FhirError(Problem.REQUIRED, "Provide national_id or patient_id", ["national_id"])
        if national_id:
            patients = data.search("Patient", [("identifier", f"{system}|{national_id}")])
            if patient_id:
                wanted = data.by_old_id("Patient", patient_id)
                patients = [p for p in patients if wanted is not None and p["id"] == wanted["id"]]
        else:
            found = data.by_old_id("Patient", str(patient_id))
            patients = [found] if found is not None else []
        subjects = {f"Patient/{p['id']}": p for p in patients}
        rows = []
        for study in data.studies_of_patients(patients):
            subject = subjects.get(study.get("subject", {}).get("reference", ""))
            rows.append(shapes.study(study, subject, data.hospital_of(study), system))
        return OldAnswer(shapes.federation(patients, rows, system), successor=_federation_successor(patients))

    return await answer(request, "ImagingStudy", _reading(request, read))


def _federation_successor(patients: list[shapes.Resource]) -> str:
    query = {
        "patient": ",".join(f"Patient/{p['id']}" for p in patients),
        "_include": "ImagingStudy:endpoint",
        "_include:iterate": "Endpoint:organization",
    }
    return "ImagingStudy?" + urlencode(query, quote_via=quote)
