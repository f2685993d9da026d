"""Deterministic FHIR ids for what the sync writes, so that an upsert needs no search and two syncs that race
write the same resource instead of two.

A FHIR id is at most 64 characters of [A-Za-z0-9.-] (https://hl7.org/fhir/R4/datatypes.html#id); a hash
prefix keeps any input inside that.
"""

from __future__ import annotations

import hashlib

from terminology.systems import FEDERATION_BASE

_HASH_LENGTH = 40


def _digest(*parts: str) -> str:
    # The separator cannot occur in a UID or an id, so ("a|b", "c") and ("a", "b|c") never collide.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:_HASH_LENGTH]


def study_id(endpoint_id: str, study_uid: str) -> str:
    """The ImagingStudy id of a study served by a hospital's (WADO-RS) Endpoint."""
    return f"dcm-{_digest(endpoint_id, study_uid)}"


def patient_id(system: str, value: str) -> str:
    """The id of a Patient the sync created from a DICOM header, from its PatientID identifier."""
    return f"dcm-{_digest('Patient', system, value)}"


def anonymous_patient_id(organization_id: str, study_uid: str) -> str:
    """The id of a Patient created for a study that has no PatientID at all (Type 2: may be empty)."""
    return f"dcm-{_digest('Patient', organization_id, study_uid)}"


def organization_id(identifier: str) -> str:
    return f"org-{_digest('Organization', identifier)}"


def endpoint_id(organization_id: str) -> str:
    """For an Organization id too long to derive readable Endpoint ids from."""
    return f"ep-{_digest('Endpoint', organization_id)}"


def hospital_patient_id_system(identifier: str) -> str:
    """The default Identifier.system of a hospital's DICOM PatientIDs (when the header names no issuer).

    Per hospital, because two PACS may hand out the same local number to different people.
    """
    return f"{FEDERATION_BASE}/sid/hospital-patient-id/{identifier}"
