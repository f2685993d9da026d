"""The old QR endpoints, now answering SMART Health Link QR codes: `GET /api/patients/{id}/qr` and
`GET /api/studies/{id}/qr` (`?format=png|svg`, `?viewer=false` for the bare `shlink:/` text); the ids are
the old app's (`PAT-…`, `STU-…`) or FHIR ids.

Each returns the QR of the caller's active link made here for that patient or study with the same access
(a link acts with its creator's access, so a caller with other scopes gets a link of its own), creating one
the first time: no passcode, long-term for a patient, expiring after FHIR_LEGACY_QR_DAYS and labelled with
the old call that made it, so that the patient's link list (`GET [base]/Patient/{id}/$shl`) says where it
came from. Links this endpoint made before links expired (no `expires`) are not handed out again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_server.errors import FhirError
from fhir_server.legacy.api.lookups import OldApiReader
from fhir_server.legacy.api.routes import deprecation_headers, services_of
from fhir_server.shl import (
    LinkOptions,
    create_link,
    creator_of,
    qr_response,
    readable_patient,
    readable_study,
    shl_of,
    store_of,
)

router = APIRouter(prefix="/api", tags=["SMART Health Links"])
PURPOSE = "legacy-qr"
_MAX_LABEL = 80  # fhir_server.shl.options.MAX_LABEL (SHL IG STU1 §label)


def _qr(request: Request, patient_id: str | None, study_id: str | None) -> Response:
    store = store_of(request)  # the bearer middleware has verified the token (`/api` is protected)
    old_ids = OldApiReader(store, f"GET {request.url.path} (old app API)")
    study = old_ids.required("ImagingStudy", str(study_id))["id"] if study_id else None
    patient = (
        readable_study(store, study)
        if study
        else readable_patient(store, old_ids.required("Patient", str(patient_id))["id"])
    )
    shl = shl_of(request)
    creator = creator_of(request)
    now = datetime.now(UTC)
    link = shl.store.find_one(
        {
            "patient": patient,
            "study": study,
            "purpose": PURPOSE,
            "creator_key": creator.key,
            "expires": {"$gt": now},
        }
    )
    if link is None or shl.status(link) != "active":
        days = services_of(request).settings.legacy_qr_days
        label = f"Old app QR code: GET {request.url.path}"
        options = LinkOptions(
            label=label[:_MAX_LABEL], expires=now + timedelta(days=days), long_term=study is None
        )
        link = create_link(request, store, patient, study, options, PURPOSE)
    params = request.query_params
    response = qr_response(request, link, params.get("format"), params.get("viewer"))
    response.headers.update(deprecation_headers(request, f"Patient/{patient}/$shl-qr?id={link.id}"))
    return response


async def _answer(request: Request, patient_id: str | None, study_id: str | None) -> Response:
    try:
        return await run_in_threadpool(_qr, request, patient_id, study_id)
    except FhirError as exc:
        successor = "Patient/{id}/$shl" if patient_id else "ImagingStudy/{id}/$shl"
        headers = {**exc.headers, **deprecation_headers(request, successor)}
        raise FhirError(exc.problem, exc.diagnostics, exc.expression, exc.extra_issues, headers) from None


@router.get("/patients/{patient_id}/qr")
async def patient_qr(patient_id: str, request: Request) -> Response:
    return await _answer(request, patient_id, None)


@router.get("/studies/{study_id}/qr")
async def study_qr(study_id: str, request: Request) -> Response:
    return await _answer(request, None, study_id)
