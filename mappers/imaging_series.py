"""ImagingStudy.series[] and series.instance[] from DICOM JSON series and instance datasets."""

from collections.abc import Iterable, Sequence
from datetime import tzinfo
from typing import Any

from mappers import fhir_systems
from mappers.dcm_modalities import modality_coding
from mappers.dicom_datetime import fhir_datetime
from mappers.dicom_json import DicomJson, items, text, unsigned_integer, with_fallback
from mappers.dicom_tags import Tag
from mappers.dicom_uid import oid_urn, required_uid
from mappers.errors import DicomMappingError
from mappers.fhir_json import compact

# Laterality (0020,0060) has only L and R; B and U belong to Image Laterality (0020,0062).
LATERALITY_CODINGS: dict[str, dict[str, str]] = {
    "L": {"system": fhir_systems.SNOMED_CT, "code": "7771000", "display": "Left"},
    "R": {"system": fhir_systems.SNOMED_CT, "code": "24028007", "display": "Right"},
}


def series_entries(
    series: Iterable[DicomJson],
    instances: Iterable[DicomJson],
    *,
    study_uid: str,
    study_utc_offset: str | None,
    local_timezone: tzinfo | None,
) -> list[dict[str, Any]]:
    """One entry per series named by ``series`` or by an instance, ordered by series number.

    Series attributes come from the series dataset (a QIDO result) and, where it has none, from the
    series' instances (instance metadata repeats the series module).
    """
    series_by_uid: dict[str, DicomJson] = {}
    for dataset in series:
        _check_study(dataset, study_uid)
        series_by_uid.setdefault(required_uid(dataset, Tag.SeriesInstanceUID), dataset)
    instances_by_series: dict[str, dict[str, DicomJson]] = {uid: {} for uid in series_by_uid}
    for dataset in instances:
        _check_study(dataset, study_uid)
        series_instances = instances_by_series.setdefault(required_uid(dataset, Tag.SeriesInstanceUID), {})
        # The same instance listed twice (a retried page, a duplicate file) is still one instance.
        series_instances.setdefault(required_uid(dataset, Tag.SOPInstanceUID), dataset)
    entries = [
        _series_entry(
            uid,
            series_by_uid.get(uid, {}),
            list(members.values()),
            study_utc_offset=study_utc_offset,
            local_timezone=local_timezone,
        )
        for uid, members in instances_by_series.items()
    ]
    return _by_number(entries)


def _series_entry(
    uid: str,
    series: DicomJson,
    instances: Sequence[DicomJson],
    *,
    study_utc_offset: str | None,
    local_timezone: tzinfo | None,
) -> dict[str, Any]:
    attributes = with_fallback(series, *instances)
    modality = (text(attributes, Tag.Modality) or "").upper()
    if not modality:
        raise DicomMappingError(f"series {uid} has no Modality (00080060), which FHIR requires")
    body_part = text(attributes, Tag.BodyPartExamined)
    counted = unsigned_integer(attributes, Tag.NumberOfSeriesRelatedInstances)
    return compact(
        uid=uid,
        number=unsigned_integer(attributes, Tag.SeriesNumber),
        modality=modality_coding(modality),
        description=text(attributes, Tag.SeriesDescription),
        # The archive's count is the whole series; the instances given may be a page of it.
        numberOfInstances=counted if counted is not None else (len(instances) if instances else None),
        # No Body Part Examined -> SNOMED CT map ships with this project, and a display-only Coding is
        # valid and honest where a guessed code would not be.
        bodySite={"display": body_part} if body_part else None,
        laterality=LATERALITY_CODINGS.get((text(attributes, Tag.Laterality) or "").upper()),
        started=fhir_datetime(
            text(attributes, Tag.SeriesDate),
            text(attributes, Tag.SeriesTime),
            utc_offset=text(attributes, Tag.TimezoneOffsetFromUTC) or study_utc_offset,
            local_timezone=local_timezone,
        ),
        instance=_by_number([_instance_entry(instance) for instance in instances]),
    )


def _instance_entry(instance: DicomJson) -> dict[str, Any]:
    return compact(
        uid=required_uid(instance, Tag.SOPInstanceUID),
        sopClass={"system": fhir_systems.URI, "code": oid_urn(required_uid(instance, Tag.SOPClassUID))},
        number=unsigned_integer(instance, Tag.InstanceNumber),
        title=_instance_title(instance),
    )


def _instance_title(instance: DicomJson) -> str | None:
    """Content Label (PR, SEG), the SR/KO document title, or Document Title (encapsulated PDF/CDA).

    Image Type (0008,0008), the last fallback in older FHIR mappings, is left out: "ORIGINAL\\PRIMARY" on
    every CT slice is not a title.
    """
    concept_names = items(instance, Tag.ConceptNameCodeSequence)
    return (
        text(instance, Tag.ContentLabel)
        or (text(concept_names[0], Tag.CodeMeaning) if concept_names else None)
        or text(instance, Tag.DocumentTitle)
    )


def _check_study(dataset: DicomJson, study_uid: str) -> None:
    other = text(dataset, Tag.StudyInstanceUID)
    if other is not None and other != study_uid:
        raise DicomMappingError(f"dataset of study {other} given for study {study_uid}")


def _by_number(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Unnumbered last, ties by UID: the same study gives the same resource whatever order the archive or
    # the file system listed it in.
    return sorted(entries, key=_number_then_uid)


def _number_then_uid(entry: dict[str, Any]) -> tuple[bool, int, str]:
    number = entry.get("number")
    return number is None, number or 0, entry["uid"]
