"""Who may share what: creating, listing, logging or revoking links of Patient P needs read access to P, and
a study link read access to the ImagingStudy as well — decided by the request's SecuredStore.

A target the caller may not read is answered exactly like one that does not exist (404, the same message):
an answer that told them apart would reveal which patients and studies exist. Only a token whose scopes do
not reach the type at all gets a 403, which depends on the token alone.
"""

from __future__ import annotations

from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.common import existing_version
from fhir_server.security.access.store import SecuredStore


def readable_patient(store: SecuredStore, patient_id: str) -> str:
    existing_version(store, "Patient", patient_id)
    return patient_id


def readable_study(store: SecuredStore, study_id: str) -> str:
    """The id of the study's patient, after checking the caller may read the study and the patient."""
    version = existing_version(store, "ImagingStudy", study_id)
    assert version.resource is not None  # existing_version answers 410 for a deletion
    reference = str(version.resource.get("subject", {}).get("reference", ""))
    if not reference.startswith("Patient/"):
        raise FhirError(Problem.UNPROCESSABLE, f"ImagingStudy/{study_id} has no Patient subject to share")
    return readable_patient(store, reference.rsplit("/", 1)[1])
