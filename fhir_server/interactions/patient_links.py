"""Following a merged Patient to the one that replaced it (R4 Patient.link, type `replaced-by`): read by
$everything and by the patient features (matching, merge), so it lives below both."""

from __future__ import annotations

from typing import Any


def replaced_by(patient: dict[str, Any]) -> str | None:
    """The id of the Patient this one was merged into (`link` of type `replaced-by`), if any."""
    for link in patient.get("link") or []:
        if not isinstance(link, dict) or link.get("type") != "replaced-by":
            continue
        reference = str((link.get("other") or {}).get("reference") or "")
        kind, _, target = reference.rpartition("/")
        if kind.endswith("Patient") and target:
            return target
    return None
