"""A patient-context search that names another patient is refused (403), not answered with an empty Bundle.

SMART Imaging Access (shared/specs/smart-imaging-access.md, "Tokens and access"): with an App Launch token,
"the token's patient context must be the patient asked for (`?patient=` on search)", and a mismatch is
`403 Forbidden, not an empty Bundle`. The decision depends on the token and the request alone, never on
stored data, so it tells the caller nothing about other patients: a Patient that exists and one that does
not are refused alike. Only plain references are decided here (`patient=P`, `patient=Patient/P`,
`subject=<our base>/Patient/P`, lists of them); chains and `:identifier` name no id and are left to the
compartment filter, which keeps them to the token's patient anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from fhir_server.security.enforcement.compartment import is_patient_data
from fhir_server.security.enforcement.policy import AccessContext, search_confinement

_PATIENT_PARAMETERS = ("patient", "subject")
_PLAIN_MODIFIERS = ("", "Patient")


def other_patients_named(
    access: AccessContext, resource_type: str, pairs: Iterable[tuple[str, str]]
) -> list[str]:
    """The patients other than the token's own that a search of `resource_type` names; empty when the
    search is not confined to one patient."""
    if not is_patient_data(resource_type) or resource_type == "Patient":
        return []
    confined = search_confinement(access, resource_type)
    if not isinstance(confined, str):
        return []
    named: list[str] = []
    for name, value in pairs:
        base_name, _, modifier = name.partition(":")
        if base_name not in _PATIENT_PARAMETERS or modifier not in _PLAIN_MODIFIERS:
            continue
        for reference in value.split(","):
            patient = _patient_id(reference.strip(), access.base_url)
            if patient is not None and patient != confined:
                named.append(patient)
    return named


def _patient_id(reference: str, base_url: str) -> str | None:
    """The Patient id a search reference value names; None for another type (Group/…) or another server."""
    base = base_url.rstrip("/") + "/"
    if reference.startswith(base):
        reference = reference[len(base) :]
    elif "://" in reference:
        return None
    parts = reference.split("/")
    if len(parts) == 1:
        return parts[0] or None
    if len(parts) == 2 and parts[0] == "Patient" and parts[1]:
        return parts[1]
    return None
