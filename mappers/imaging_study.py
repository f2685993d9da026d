"""DICOM study data (DICOM JSON or pydicom datasets) to a FHIR R4 ImagingStudy, per
shared/specs/imagingstudy-dicom.md."""

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from pydicom import Dataset

from mappers.dcm_modalities import is_acquisition_modality, modality_coding
from mappers.dicom_codes import codeable_concept
from mappers.dicom_datetime import fhir_datetime
from mappers.dicom_issuer import issuer_name, issuer_system
from mappers.dicom_json import DicomJson, items, person_name, text, texts, unsigned_integer, with_fallback
from mappers.dicom_tags import Tag
from mappers.dicom_uid import OID_URN_PREFIX, checked_uid, oid_urn, required_uid
from mappers.errors import DicomMappingError
from mappers.fhir_json import compact
from mappers.imaging_series import series_entries
from mappers.patient import patient_from_dicom_json
from mappers.person_name import display_name
from terminology.systems import DICOM_UID_SYSTEM, V2_0203_SYSTEM

# The contract (the spec and its callers) names this module for the Patient mapper too.
__all__ = [
    "STUDY_STATUSES",
    "patient_from_dicom_json",
    "study_from_datasets",
    "study_from_dicom_json",
    "study_uid_from_identifier",
    "study_uid_identifier",
]

STUDY_STATUSES = frozenset({"registered", "available", "cancelled", "entered-in-error", "unknown"})

ACCESSION_TYPE = {"coding": [{"system": V2_0203_SYSTEM, "code": "ACSN"}]}

_READ_TAGS = [int(tag, 16) for tag in Tag]


def study_uid_identifier(uid: str) -> dict[str, str]:
    """The ImagingStudy.identifier for a Study Instance UID: ``urn:dicom:uid|urn:oid:<uid>``."""
    return {"system": DICOM_UID_SYSTEM, "value": oid_urn(checked_uid(uid.strip()))}


def study_uid_from_identifier(value: str) -> str:
    """The plain Study Instance UID from an identifier value (``urn:oid:1.2.3`` or a bare ``1.2.3``).

    Bare UIDs are accepted because that is what clients copy from viewers and DICOMweb URLs.
    """
    value = value.strip()
    return checked_uid(value.removeprefix(OID_URN_PREFIX))


def study_from_dicom_json(
    study: DicomJson,
    series: Sequence[DicomJson] = (),
    instances: Sequence[DicomJson] = (),
    *,
    patient_ref: str,
    endpoint_ref: str | None,
    status: str = "available",
    local_timezone: tzinfo | None = None,
) -> dict[str, Any]:
    """An ImagingStudy from a study dataset plus any series and instance datasets of that study.

    ``study`` is a QIDO-RS study result or any instance's metadata; ``series`` are QIDO-RS series results;
    ``instances`` are QIDO-RS instance results or WADO-RS metadata, each naming its series. Series known only
    from instances are built from the instances' series attributes. ``local_timezone`` is the zone of the
    modality clocks, used for start times that lack Timezone Offset From UTC (0008,0201); without it
    such times are dropped and ``started`` is date-only (see ``dicom_datetime``).

    Raises DicomMappingError when a UID or a series modality is missing or the datasets mix studies.
    """
    if status not in STUDY_STATUSES:
        raise ValueError(f"ImagingStudy.status must be one of {sorted(STUDY_STATUSES)}, not {status!r}")
    if not patient_ref:
        raise ValueError("ImagingStudy.subject is required: patient_ref is empty")
    # Instance metadata carries study attributes a QIDO study result may lack (e.g. the UTC offset).
    attributes = with_fallback(study, *instances)
    study_uid = required_uid(attributes, Tag.StudyInstanceUID)
    utc_offset = text(attributes, Tag.TimezoneOffsetFromUTC)
    series_list = series_entries(
        series, instances, study_uid=study_uid, study_utc_offset=utc_offset, local_timezone=local_timezone
    )
    department = text(attributes, Tag.InstitutionalDepartmentName)
    referrer = display_name(person_name(attributes, Tag.ReferringPhysicianName))
    accession = _accession_identifier(attributes)
    return compact(
        resourceType="ImagingStudy",
        identifier=[study_uid_identifier(study_uid), *([accession] if accession else [])],
        status=status,
        modality=[modality_coding(code) for code in _study_modalities(attributes, series_list)],
        subject={"reference": patient_ref},
        started=fhir_datetime(
            text(attributes, Tag.StudyDate),
            text(attributes, Tag.StudyTime),
            utc_offset=utc_offset,
            local_timezone=local_timezone,
        ),
        referrer={"display": referrer} if referrer else None,
        endpoint=[{"reference": endpoint_ref}] if endpoint_ref else None,
        numberOfSeries=_series_count(attributes, series_list),
        numberOfInstances=_instance_count(attributes, series_list),
        procedureCode=_procedure_codes(attributes),
        location={"display": department} if department else None,
        reasonCode=[{"text": reason} for reason in _reasons(attributes)],
        description=text(attributes, Tag.StudyDescription),
        series=series_list,
    )


def study_from_datasets(
    datasets: Sequence[Dataset],
    *,
    patient_ref: str,
    endpoint_ref: str | None = None,
    status: str = "available",
    local_timezone: tzinfo | None = None,
) -> dict[str, Any]:
    """An ImagingStudy from the instance headers of one study (e.g. files read with pydicom).

    Goes through the DICOM JSON model so there is one mapping, not two that drift apart.
    """
    if not datasets:
        raise DicomMappingError("no datasets given")
    instances = [_dicom_json(dataset) for dataset in datasets]
    return study_from_dicom_json(
        instances[0],
        (),
        instances,
        patient_ref=patient_ref,
        endpoint_ref=endpoint_ref,
        status=status,
        local_timezone=local_timezone,
    )


def _dicom_json(dataset: Dataset) -> dict[str, Any]:
    # Only the attributes the mapping reads: converting a whole header (private tags, pixel data) costs
    # about ten times as much, for nothing. Values are decoded with the source dataset's character set as
    # they are copied. An element pydicom cannot encode is skipped rather than failing the whole study.
    wanted = Dataset()
    for tag in _READ_TAGS:
        if tag in dataset:
            wanted[tag] = dataset[tag]
    return wanted.to_json_dict(suppress_invalid_tags=True)


def _accession_identifier(attributes: DicomJson) -> dict[str, Any] | None:
    number = text(attributes, Tag.AccessionNumber)
    if number is None:
        return None
    issuers = items(attributes, Tag.IssuerOfAccessionNumberSequence)
    issuer = issuers[0] if issuers else {}
    assigner = issuer_name(issuer)
    return compact(
        type=ACCESSION_TYPE,
        system=issuer_system(issuer),
        value=number,
        assigner={"display": assigner} if assigner else None,
    )


def _study_modalities(attributes: DicomJson, series_list: Sequence[dict[str, Any]]) -> list[str]:
    """Acquisition modalities of Modalities in Study and of every series, first seen first."""
    listed = [
        code.strip().upper()
        for value in texts(attributes, Tag.ModalitiesInStudy)
        # Some archives send "CT\\SR" as one JSON string instead of two values.
        for code in value.split("\\")
    ]
    from_series = [entry["modality"]["code"] for entry in series_list]
    ordered = dict.fromkeys(code for code in [*listed, *from_series] if code)
    return [code for code in ordered if is_acquisition_modality(code)]


def _series_count(attributes: DicomJson, series_list: Sequence[dict[str, Any]]) -> int | None:
    reported = unsigned_integer(attributes, Tag.NumberOfStudyRelatedSeries)
    return reported if reported is not None else (len(series_list) or None)


def _instance_count(attributes: DicomJson, series_list: Sequence[dict[str, Any]]) -> int | None:
    reported = unsigned_integer(attributes, Tag.NumberOfStudyRelatedInstances)
    if reported is not None:
        return reported
    counts: list[int | None] = [entry.get("numberOfInstances") for entry in series_list]
    # A sum over series of which some have no count would understate the study.
    if not counts or None in counts:
        return None
    return sum(count for count in counts if count is not None)


def _procedure_codes(attributes: DicomJson) -> list[dict[str, Any]]:
    concepts = (codeable_concept(item) for item in items(attributes, Tag.ProcedureCodeSequence))
    return [concept for concept in concepts if concept]


def _reasons(attributes: DicomJson) -> list[str]:
    """Reason for the Requested Procedure, top level (worklist, QIDO) or in Request Attributes (images)."""
    found = texts(attributes, Tag.ReasonForTheRequestedProcedure)
    for request in items(attributes, Tag.RequestAttributesSequence):
        found += texts(request, Tag.ReasonForTheRequestedProcedure)
    return list(dict.fromkeys(found))
