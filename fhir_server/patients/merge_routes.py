"""`POST [base]/Patient/$merge` (fhir_server.patients.merge, after R5
https://build.fhir.org/patient-operation-merge.html):
the handler of its row in the route table (fhir_server.rest.routes)."""

from __future__ import annotations

from fhir_server.core.negotiation import check_request_body_type
from fhir_server.core.request import FhirRequest
from fhir_server.core.result import FhirResult
from fhir_server.patients.candidates import MatchCandidates
from fhir_server.patients.merge import merge, parse_request
from fhir_server.validation import parse_json


def patient_merge(req: FhirRequest) -> FhirResult:
    check_request_body_type(req.header("content-type"))
    store = req.store
    services = req.services
    merge_request = parse_request(parse_json(req.body), store.access.base_url)
    done = merge(store, services.rules, merge_request, services.settings.national_id_system)
    if not merge_request.preview:
        # A possible duplicate the sync recorded for exactly this pair is now decided.
        candidates: MatchCandidates = req.components.patient_matches
        candidates.resolve_merged(done.plan.source.id, done.plan.target.id, store.access.subject)
    return FhirResult(resource=done.parameters)
