"""DICOM code sequence items (PS3.3 Table 8.8-1) as FHIR Codings and CodeableConcepts."""

from typing import Any

from mappers import fhir_systems
from mappers.dicom_json import DicomJson, text
from mappers.dicom_tags import Tag
from mappers.fhir_json import compact
from terminology.systems import DCM_SYSTEM

# Coding Scheme Designators whose FHIR system URI is certain. Others (local "99..." schemes, retired SRT whose
# codes are not SNOMED CT concept ids) give a coding without system; the meaning survives in the display.
CODING_SCHEME_SYSTEMS = {
    "DCM": DCM_SYSTEM,
    "SCT": fhir_systems.SNOMED_CT,
    "LN": fhir_systems.LOINC,
    "UCUM": fhir_systems.UCUM,
}


def coding(item: DicomJson) -> dict[str, Any] | None:
    """The Coding of one item; None when it carries no code value of any kind."""
    meaning = text(item, Tag.CodeMeaning)
    code = text(item, Tag.CodeValue) or text(item, Tag.LongCodeValue)
    if code:
        system = CODING_SCHEME_SYSTEMS.get((text(item, Tag.CodingSchemeDesignator) or "").upper())
        # A version means nothing without the system it versions.
        version = text(item, Tag.CodingSchemeVersion) if system else None
        return compact(system=system, version=version, code=code, display=meaning)
    urn = text(item, Tag.URNCodeValue)
    return compact(system=fhir_systems.URI, code=urn, display=meaning) if urn else None


def codeable_concept(item: DicomJson) -> dict[str, Any] | None:
    """One code sequence item; None when it has neither a code nor a meaning."""
    found = coding(item)
    return compact(coding=[found] if found else None, text=text(item, Tag.CodeMeaning)) or None
