"""The Patient compartment (https://hl7.org/fhir/R4/compartmentdefinition-patient.html) for our types.

Patient P's compartment holds Patient P itself and every ImagingStudy whose `subject` is Patient P.
Organization and Endpoint are not in any patient's compartment: they describe hospitals and their DICOMweb
services, not a person. Policy (documented in README): a `patient/` token may read and search them when its
scopes name them (`patient/Organization.rs`, `patient/Endpoint.rs`) — an app needs them to show which
hospital holds a study — but may never create, update or delete them.
"""

from __future__ import annotations

from typing import Any

COMPARTMENT_TYPES = frozenset({"Patient", "ImagingStudy"})
# The reference elements that put a resource in the compartment (CompartmentDefinition "param" paths).
_PATIENT_REFERENCES = {"ImagingStudy": ("subject",)}


def is_patient_data(resource_type: str) -> bool:
    return resource_type in COMPARTMENT_TYPES


def patient_of(resource_type: str, resource: dict[str, Any], base_url: str) -> str | None:
    """The id of the patient whose compartment `resource` belongs to, or None."""
    if resource_type == "Patient":
        value = resource.get("id")
        return value if isinstance(value, str) else None
    for element in _PATIENT_REFERENCES.get(resource_type, ()):
        target = resource.get(element)
        if isinstance(target, dict):
            patient = _patient_id(target.get("reference"), base_url)
            if patient is not None:
                return patient
    return None


def compartment_criteria(resource_type: str, patient_id: str) -> list[tuple[str, str]]:
    """Search criteria that confine a search of `resource_type` to Patient `patient_id`'s compartment
    (the CompartmentDefinition's params); empty for types outside the compartment."""
    if resource_type == "Patient":
        return [("_id", patient_id)]
    if resource_type in _PATIENT_REFERENCES:
        return [("patient", f"Patient/{patient_id}")]
    return []


def in_compartment(resource_type: str, resource: dict[str, Any], patient_id: str, base_url: str) -> bool:
    return patient_of(resource_type, resource, base_url) == patient_id


def _patient_id(reference: Any, base_url: str) -> str | None:
    """`Patient/P`, `Patient/P/_history/n` or `<our base>/Patient/P`; a reference to another server's
    Patient/P is a different person and never counts."""
    if not isinstance(reference, str):
        return None
    if reference.startswith(base_url.rstrip("/") + "/"):
        reference = reference[len(base_url.rstrip("/")) + 1 :]
    parts = reference.split("/")
    if (
        len(parts) in (2, 4)
        and parts[0] == "Patient"
        and parts[1]
        and (len(parts) == 2 or parts[2] == "_history")
    ):
        return parts[1]
    return None
