"""Possible duplicate Patients for administrators (fhir_server.patients.candidates):

GET  /admin/patient-matches?status=open|dismissed|merged|all   candidates, newest first, with both sides'
                                                                demographics, identifiers and studies
POST /admin/patient-matches/{id}/dismiss                        "two people": recorded with who and when

Merging is `POST /fhir/Patient/$merge` (a FHIR operation, access by the caller's FHIR scopes), which marks
the pair's candidate merged. `/admin` needs the admin scope (fhir_server.security.enforcement.bearer); the
Patients and studies shown are read through the caller's secured store, so listing also needs FHIR read access
(the dashboard's admin users have `user/*.cruds`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from fhir_server.api.dependencies import ServicesDep
from fhir_server.errors import FhirError, Problem
from fhir_server.patients.candidates import STATUSES, DecisionConflict, MatchCandidates, Status
from fhir_server.patients.match_view import MatchView
from fhir_server.security.access.store import secured
from fhir_server.security.admin.routes import AdminDep

router = APIRouter(prefix="/admin", tags=["admin"])


def _candidates(request: Request) -> MatchCandidates:
    candidates: MatchCandidates = request.app.state.patient_matches
    return candidates


@router.get("/patient-matches")
async def list_matches(
    request: Request, _admin: AdminDep, services: ServicesDep, status: str = "open"
) -> JSONResponse:
    chosen: Status | None = None
    if status in STATUSES:
        chosen = status
    elif status != "all":
        raise FhirError(
            Problem.INVALID,
            f"status must be one of {', '.join(STATUSES)} or all, not {status[:40]!r}",
            ["status"],
        )

    def work() -> dict[str, object]:
        store = secured(request, "search")
        store.require("read", "Patient")
        store.require("search", "ImagingStudy")
        view = MatchView(store, services.settings.national_id_system)
        listed = [view.describe(c) for c in _candidates(request).list(chosen)]
        view.record(str(request.url.path))
        return {"candidates": listed}

    return JSONResponse(await run_in_threadpool(work), headers={"Cache-Control": "no-store"})


@router.post("/patient-matches/{candidate_id}/dismiss")
async def dismiss_match(candidate_id: str, request: Request, admin: AdminDep) -> JSONResponse:
    try:
        dismissed = await run_in_threadpool(_candidates(request).dismiss, candidate_id, admin.subject)
    except DecisionConflict as exc:
        raise FhirError(
            Problem.CONFLICT,
            f"Candidate {candidate_id} was already {exc.candidate.status}: it cannot be dismissed",
        ) from None
    if dismissed is None:
        raise FhirError(Problem.NOT_FOUND, f"No possible-duplicate candidate {candidate_id[:80]!r}")
    return JSONResponse(dismissed.public_json())
