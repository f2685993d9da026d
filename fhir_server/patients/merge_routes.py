"""`POST [base]/Patient/$merge` (fhir_server.patients.merge). Registered before the generic FHIR routes, so
that `Patient/$merge` is not taken for a resource id."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_server.access.store import secured
from fhir_server.api.negotiation import check_request_body_type
from fhir_server.api.responses import FhirJSONResponse
from fhir_server.api.services import ContextDep, ServicesDep
from fhir_server.patients.candidates import MatchCandidates
from fhir_server.patients.merge import merge, parse_request
from fhir_server.validation import parse_json

router = APIRouter(prefix="/fhir", tags=["Patient merge"])


@router.post("/Patient/$merge")
async def patient_merge(request: Request, services: ServicesDep, ctx: ContextDep) -> Response:
    check_request_body_type(request.headers.get("content-type"))
    body = await request.body()

    def work() -> Response:
        store = secured(request, "operation")
        merge_request = parse_request(parse_json(body), store.access.base_url)
        done = merge(store, services.rules, merge_request, services.settings.national_id_system)
        if not merge_request.preview:
            # A possible duplicate the sync recorded for exactly this pair is now decided.
            candidates: MatchCandidates = request.app.state.patient_matches
            candidates.resolve_merged(done.plan.source.id, done.plan.target.id, store.access.subject)
        return FhirJSONResponse(done.parameters, pretty=ctx.pretty)

    return await run_in_threadpool(work)
