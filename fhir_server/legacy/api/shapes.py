"""The old app's JSON shapes, made from FHIR resources (pure functions).

The old README documents the request bodies and the federation answer; the other answers are the old
Flask handlers' dictionaries (the rows of its SQLite tables, whose schema is the one `import-legacy`
reads). Old ids are the `legacy-*-id` identifiers the import and the old-API writes give every resource; a
resource that never had one (registered, synced from DICOM) is named by its FHIR id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any

from mappers.legacy import ORTHANC_STUDY_ID_SYSTEM
from mappers.legacy_values import EAST_AFRICA_TIME
from terminology.systems import LEGACY_HOSPITAL_ID_SYSTEM, LEGACY_PATIENT_ID_SYSTEM, LEGACY_STUDY_ID_SYSTEM

Resource = dict[str, Any]
OldJson = dict[str, Any]

# AdministrativeGender back to the old app's one-letter spelling (its demo and README use M and F).
_OLD_GENDER = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
_LEGACY_MODALITY_NOTE = "Legacy modality: "


def identifier_value(resource: Resource, system: str) -> str | None:
    for identifier in resource.get("identifier", []):
        if identifier.get("system") == system and identifier.get("value"):
            return str(identifier["value"])
    return None


def old_id(resource: Resource) -> str:
    """The old app's id of a Patient, Organization or ImagingStudy, else its FHIR id."""
    system = {
        "Patient": LEGACY_PATIENT_ID_SYSTEM,
        "Organization": LEGACY_HOSPITAL_ID_SYSTEM,
        "ImagingStudy": LEGACY_STUDY_ID_SYSTEM,
    }[resource["resourceType"]]
    return identifier_value(resource, system) or str(resource["id"])


def _telecom(resource: Resource, system: str) -> str | None:
    for point in resource.get("telecom", []):
        if point.get("system") == system and point.get("value"):
            return str(point["value"])
    return None


def hospital(organization: Resource) -> OldJson:
    """A row of `GET /api/hospitals`."""
    address = next((a.get("text") for a in organization.get("address", []) if a.get("text")), None)
    return {
        "id": old_id(organization),
        "name": organization.get("name"),
        "address": address,
        "phone": _telecom(organization, "phone"),
        "email": _telecom(organization, "email"),
        # SQLite's CURRENT_TIMESTAMP, which the old app used, is UTC.
        "created_date": _old_timestamp(organization.get("meta", {}).get("lastUpdated"), UTC),
    }


def _names(patient: Resource) -> tuple[str | None, str | None]:
    name: dict[str, Any] = next(iter(patient.get("name", [])), {})
    given = name.get("given") or [None]
    return given[0], name.get("family")


def patient_name(patient: Resource) -> str | None:
    """ "First Last", as the old federation query and hospital study lists wrote it."""
    parts = [p for p in _names(patient) if p]
    return " ".join(parts) if parts else None


def patient(resource: Resource, national_id_system: str) -> OldJson:
    """A row of `GET /api/patients`, and the answer of `GET /api/patients/{id}`."""
    first, last = _names(resource)
    return {
        "id": old_id(resource),
        "national_id": identifier_value(resource, national_id_system),
        "first_name": first,
        "last_name": last,
        "date_of_birth": resource.get("birthDate"),
        "gender": _OLD_GENDER.get(resource.get("gender", "")),
        "phone": _telecom(resource, "phone"),
    }


def _old_timestamp(instant: str | None, zone: tzinfo) -> str | None:
    """`2024-01-15 10:30:00` in `zone` (the old app kept zone-less timestamps)."""
    if not instant:
        return None
    try:
        moment = datetime.fromisoformat(instant)
    except ValueError:
        return instant  # a date or partial dateTime: the old app's columns held such values too
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _modality(study: Resource) -> str | None:
    for note in study.get("note", []):
        text = str(note.get("text", ""))
        if text.startswith(_LEGACY_MODALITY_NOTE):
            return text[len(_LEGACY_MODALITY_NOTE) :]
    codes = [c.get("code") for c in study.get("modality", []) if c.get("code")]
    if not codes:
        codes = [m["code"] for s in study.get("series", []) if (m := s.get("modality", {})).get("code")]
    return ",".join(dict.fromkeys(codes)) or None


def study(
    resource: Resource,
    subject: Resource | None,
    organization: Resource | None,
    national_id_system: str,
) -> OldJson:
    """A study as the old federation query listed it (the hospital list has the same keys but `id` for
    `study_id` and no `hospital_name`; see `hospital_study`)."""
    return {
        "study_id": old_id(resource),
        "patient_id": old_id(subject) if subject else None,
        "hospital_id": old_id(organization) if organization else None,
        # Study dates were the hospitals' wall-clock times (mappers.legacy reads them as East Africa Time).
        "study_date": _old_timestamp(resource.get("started"), EAST_AFRICA_TIME),
        "modality": _modality(resource),
        "description": resource.get("description"),
        "orthanc_study_id": identifier_value(resource, ORTHANC_STUDY_ID_SYSTEM),
        "patient_name": patient_name(subject) if subject else None,
        "national_id": identifier_value(subject, national_id_system) if subject else None,
        "hospital_name": organization.get("name") if organization else None,
    }


def hospital_study(federation_study: OldJson) -> OldJson:
    """A row of `GET /api/hospitals/{id}/studies`."""
    row = {"id": federation_study["study_id"], **federation_study}
    del row["study_id"], row["hospital_name"]
    return row


def federation(patients: Iterable[Resource], studies: list[OldJson], national_id_system: str) -> OldJson:
    """The answer of `GET /api/federation/query` (the old README's shape). `patients`: the Patients the
    query matched that the caller may see; the counts count only the `studies` shown."""
    first = next(iter(patients), None)
    return {
        "patient": {
            "id": old_id(first) if first else None,
            "name": patient_name(first) if first else None,
            "national_id": identifier_value(first, national_id_system) if first else None,
        },
        "studies": studies,
        "total_studies": len(studies),
        "hospitals_accessed": len({s["hospital_id"] for s in studies if s["hospital_id"] is not None}),
    }
