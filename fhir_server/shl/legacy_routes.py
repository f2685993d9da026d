"""The old QR endpoints, now answering SMART Health Link QR codes: `GET /api/patients/{id}/qr` and
`GET /api/studies/{id}/qr` (`?format=png|svg`, `?viewer=false` for the bare `shlink:/` text).

Each returns the QR of the caller's latest active link made here for that patient or study, creating one
(no passcode, no expiry, long-term for a patient) the first time. /api is outside the Bearer middleware's
prefixes, so the token is verified here the same way (fhir_server.auth.middleware).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_server.auth.components import AuthComponents
from fhir_server.auth.enforcement import STATE_KEY, access_of
from fhir_server.auth.policy import anonymous_development
from fhir_server.auth.tokens import InvalidToken
from fhir_server.auth.urls import Urls
from fhir_server.errors import FhirError, Problem
from fhir_server.shl.components import shl_of
from fhir_server.shl.options import LinkOptions
from fhir_server.shl.routes import create_link, qr_response
from fhir_server.shl.targets import readable_patient, readable_study

router = APIRouter(prefix="/api", tags=["SMART Health Links"])
PURPOSE = "legacy-qr"


def authenticate(request: Request) -> None:
    auth: AuthComponents = request.app.state.auth
    urls = Urls.for_request(request, auth.settings)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        if not scheme and auth.development:
            access = anonymous_development(urls.fhir_base)
        elif scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("A Bearer access token is required (Authorization: Bearer <token>)")
        else:
            access = auth.verifier.verify(token.strip(), urls)
    except InvalidToken as exc:
        challenge = f'Bearer error="invalid_token", error_description="{exc}"'
        raise FhirError(Problem.UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": challenge}) from None
    setattr(request.state, STATE_KEY, access)


def _qr(request: Request, patient: str, study: str | None, long_term: bool) -> Response:
    shl = shl_of(request)
    creator = access_of(request).subject
    link = shl.store.find_one({"patient": patient, "study": study, "purpose": PURPOSE, "creator": creator})
    if link is None or not link.active:
        link = create_link(request, patient, study, LinkOptions(long_term=long_term), PURPOSE)
    params = request.query_params
    return qr_response(request, link, params.get("format"), params.get("viewer"))


@router.get("/patients/{patient_id}/qr")
async def patient_qr(patient_id: str, request: Request) -> Response:
    def work() -> Response:
        authenticate(request)
        return _qr(request, readable_patient(request, patient_id), None, True)

    return await run_in_threadpool(work)


@router.get("/studies/{study_id}/qr")
async def study_qr(study_id: str, request: Request) -> Response:
    def work() -> Response:
        authenticate(request)
        return _qr(request, readable_study(request, study_id), study_id, False)

    return await run_in_threadpool(work)
