"""Who may share what: creating, listing, logging or revoking links of Patient P needs read access to P
(fhir_server.auth.enforcement), and a study link read access to the ImagingStudy as well."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from fhir_server.auth.enforcement import forbidden, visible
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.common import existing_version
from fhir_server.storage.mongo import MongoRepository


def _repository(request: HTTPConnection) -> MongoRepository:
    repository: MongoRepository = request.app.state.services.repository
    return repository


def readable_patient(request: HTTPConnection, patient_id: str) -> str:
    version = existing_version(_repository(request), "Patient", patient_id)
    if version.resource is None or not visible(request, "Patient", version.resource):
        raise forbidden(f"The access token does not allow reading Patient/{patient_id}")
    return patient_id


def readable_study(request: HTTPConnection, study_id: str) -> str:
    """The id of the study's patient, after checking the caller may read the study and the patient."""
    version = existing_version(_repository(request), "ImagingStudy", study_id)
    if version.resource is None or not visible(request, "ImagingStudy", version.resource):
        raise forbidden(f"The access token does not allow reading ImagingStudy/{study_id}")
    reference = str(version.resource.get("subject", {}).get("reference", ""))
    if not reference.startswith("Patient/"):
        raise FhirError(Problem.UNPROCESSABLE, f"ImagingStudy/{study_id} has no Patient subject to share")
    return readable_patient(request, reference.rsplit("/", 1)[1])
