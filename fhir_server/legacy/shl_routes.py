"""The old QR endpoints, now answering SMART Health Link QR codes: `GET /api/patients/{id}/qr` and
`GET /api/studies/{id}/qr` (`?format=png|svg`, `?viewer=false` for the bare `shlink:/` text).

Each returns the QR of the caller's latest active link made here for that patient or study with the same
access (a link acts with its creator's access, so a caller with other scopes gets a link of its own),
creating one (no passcode, no expiry, long-term for a patient) the first time. /api is outside the Bearer
middleware's prefixes, so the token is verified here the same way (fhir_server.security.enforcement.bearer).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

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


def _qr(request: Request, patient_id: str | None, study: str | None) -> Response:
    store = store_of(request)  # the bearer middleware has verified the token (`/api` is protected)
    patient = readable_study(store, study) if study else readable_patient(store, str(patient_id))
    shl = shl_of(request)
    creator = creator_of(request)
    link = shl.store.find_one(
        {"patient": patient, "study": study, "purpose": PURPOSE, "creator_key": creator.key}
    )
    if link is None or shl.status(link) != "active":
        options = LinkOptions(long_term=study is None)
        link = create_link(request, store, patient, study, options, PURPOSE)
    params = request.query_params
    return qr_response(request, link, params.get("format"), params.get("viewer"))


@router.get("/patients/{patient_id}/qr")
async def patient_qr(patient_id: str, request: Request) -> Response:
    return await run_in_threadpool(_qr, request, patient_id, None)


@router.get("/studies/{study_id}/qr")
async def study_qr(study_id: str, request: Request) -> Response:
    return await run_in_threadpool(_qr, request, None, study_id)
