"""A minimal FHIR R4 Patient from the patient attributes of a DICOM study (DICOM JSON)."""

from typing import Any

from mappers import dicom_issuer
from mappers.dicom_datetime import fhir_date
from mappers.dicom_json import DicomJson, items, person_name, text
from mappers.dicom_tags import Tag
from mappers.fhir_json import compact
from mappers.person_name import human_names

_GENDERS = {"M": "male", "F": "female", "O": "other"}


def patient_from_dicom_json(study: DicomJson, *, issuer_system: str | None) -> dict[str, Any]:
    """Patient with identifier, name(s), gender and birthDate, each only when the study has it.

    The identifier's system is, in order: the universal ID of Issuer of Patient ID Qualifiers
    (0010,0024), Issuer of Patient ID (0010,0021) as given, then ``issuer_system`` (the hospital's
    configured patient-ID namespace). An issuer text with spaces cannot be a URI; it then becomes the
    assigner's display and ``issuer_system`` the system.
    """
    sex = text(study, Tag.PatientSex)
    return compact(
        resourceType="Patient",
        identifier=_identifiers(study, issuer_system),
        name=human_names(person_name(study, Tag.PatientName)),
        # A sex value outside M/F/O is recorded but unreadable, which is what "unknown" means.
        gender=_GENDERS.get(sex.upper(), "unknown") if sex else None,
        birthDate=fhir_date(text(study, Tag.PatientBirthDate)),
    )


def _identifiers(study: DicomJson, configured_system: str | None) -> list[dict[str, Any]]:
    patient_id = text(study, Tag.PatientID)
    if patient_id is None:
        return []
    qualifiers = items(study, Tag.IssuerOfPatientIDQualifiersSequence)
    issuer_text = text(study, Tag.IssuerOfPatientID)
    text_is_uri = issuer_text is not None and not any(char.isspace() for char in issuer_text)
    system = (
        (dicom_issuer.issuer_system(qualifiers[0]) if qualifiers else None)
        or (issuer_text if text_is_uri else None)
        or configured_system
    )
    assigner = issuer_text if issuer_text and issuer_text != system else None
    return [compact(system=system, value=patient_id, assigner={"display": assigner} if assigner else None)]
