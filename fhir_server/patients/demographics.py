"""How two Patients are compared when no identifier joins them: normalized family name, first given name,
birth date and sex, all four present and equal. A match is only ever a *possible* duplicate for a person to
review (fhir_server.patients.candidates); nothing is merged on it.
"""

from __future__ import annotations

from typing import Any

from fhir_server.search.normalize import fold

# (family, first given name, birth date, gender), each normalized.
DemographicKey = tuple[str, str, str, str]

# "unknown" says the sex is not known: two unknowns are no evidence of one person.
_KNOWN_GENDERS = frozenset({"male", "female", "other"})
_FULL_DATE_LENGTH = len("1985-03-12")

REASON = "same family name, given name, birth date and sex; no identifier in common"


def normalized(text: str) -> str:
    """Case, accents, spaces and punctuation folded away: 'Hansen-Berg', 'HANSEN BERG' and 'Hånsen Berg'
    compare equal (DICOM names are often upper case, some PACS drop hyphens)."""
    return "".join(ch for ch in fold(text) if ch.isalnum())


def demographic_keys(patient: dict[str, Any]) -> frozenset[DemographicKey]:
    """One key per name that has a family and a given name; empty when birth date (to the day) or a known
    sex is missing, so that a sparse record never looks like anybody."""
    birth = patient.get("birthDate")
    gender = patient.get("gender")
    if not isinstance(birth, str) or len(birth) != _FULL_DATE_LENGTH or gender not in _KNOWN_GENDERS:
        return frozenset()
    keys: set[DemographicKey] = set()
    for name in patient.get("name") or []:
        if not isinstance(name, dict):
            continue
        family = normalized(str(name.get("family") or ""))
        given = normalized(str((name.get("given") or [""])[0] or ""))
        if family and given:
            keys.add((family, given, birth, str(gender)))
    return frozenset(keys)


def identifier_values(patient: dict[str, Any], system: str) -> set[str]:
    return {
        str(i["value"])
        for i in patient.get("identifier") or []
        if isinstance(i, dict) and i.get("system") == system and i.get("value")
    }
