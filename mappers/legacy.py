"""Import of the legacy imaging application's SQLite database: rows in, FHIR R4 resources and issues out.

Everything here is pure except ``read_legacy_rows``. Every row ends up imported, imported with warnings or
rejected, and every warning or rejection names the row, the legacy column and the reason, so that nothing
is dropped silently. A row is rejected only when it cannot become a valid resource: no usable id, a study
whose patient was not imported (ImagingStudy.subject is required), or a duplicate of an earlier row.

Ids are derived from the legacy ids (``HOS-001`` -> ``legacy-hos-001``), so an import can be re-run with
update-as-create and converges instead of duplicating.

An import never downgrades what others wrote under those ids (``merge_with_existing``): a study the DICOMweb
sync built from DICOM, and a hospital's registered Organization and Endpoint, keep their values; legacy values
only fill gaps, and every legacy value not applied is a ``conflict`` row of the report.
"""

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Final, Literal

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from mappers.endpoint import dicomweb_endpoints, requires_access_token
from mappers.fhir_json import compact, content
from mappers.legacy_modality import ModalityLookup, dcm_codings, modality_lookup_from_terminology
from mappers.legacy_values import (
    EAST_AFRICA_TIME,
    LEGACY_ID_MAX_LENGTH,
    canonical_national_id,
    clean_text,
    fhir_date,
    fhir_datetime,
    fhir_gender,
    legacy_fhir_id,
    strip_markup,
)
from terminology.systems import (
    DICOM_UID_SYSTEM,
    ENDPOINT_CONNECTION_TYPE_SYSTEM,
    FEDERATION_BASE,
    LEGACY_HOSPITAL_ID_SYSTEM,
    LEGACY_PATIENT_ID_SYSTEM,
    LEGACY_STUDY_ID_SYSTEM,
    NATIONAL_ID_SYSTEM,
    V2_0203_SYSTEM,
)

__all__ = [
    "EAST_AFRICA_TIME",
    "ORTHANC_STUDY_ID_SYSTEM",
    "TABLES",
    "UNKNOWN_DICOMWEB_ADDRESS",
    "LegacyImport",
    "LegacyIssue",
    "LegacyMapping",
    "LegacyMerge",
    "ModalityLookup",
    "hospital_endpoint",
    "hospital_endpoint_id",
    "hospital_to_organization",
    "iter_legacy_database",
    "legacy_row",
    "map_legacy_database",
    "merge_with_existing",
    "modality_lookup_from_terminology",
    "new_legacy_import",
    "patient_to_patient",
    "read_legacy_rows",
    "report_rows",
    "stored_data_source",
    "study_to_imaging_study",
]

TABLES: Final = ("hospitals", "patients", "studies")

# Orthanc's own study id (a hash, unique per Orthanc server), kept so that a later sync with the hospital's
# PACS can find the study. Not yet in terminology.systems because only this importer writes it.
ORTHANC_STUDY_ID_SYSTEM: Final = f"{FEDERATION_BASE}/sid/orthanc-study-id"

# Endpoint.address is required, but the legacy database never recorded a hospital's DICOMweb base. A URN
# cannot be dereferenced by accident, and the Endpoint is "off" until someone configures the real address.
UNKNOWN_DICOMWEB_ADDRESS: Final = "urn:legacy:unknown-dicomweb"

# The legacy application is retired: "old" is R4's use for identifiers no longer assigned but still
# searched for (e.g. ImagingStudy?identifier=STU-20240115103000).
_LEGACY_USE: Final = "old"
_ORGANIZATION_ID_TYPE: Final = {
    "coding": [{"system": V2_0203_SYSTEM, "code": "XX", "display": "Organization identifier"}]
}
_NATIONAL_ID_TYPE: Final = {
    "coding": [{"system": V2_0203_SYSTEM, "code": "NI", "display": "National unique individual identifier"}]
}
# PI, not MR: the legacy number was assigned by an imaging registry shared by several hospitals, not by one
# hospital's medical records department.
_LEGACY_PATIENT_ID_TYPE: Final = {
    "coding": [{"system": V2_0203_SYSTEM, "code": "PI", "display": "Patient internal identifier"}]
}
_WADO_RS: Final = "dicom-wado-rs"

# "conflict": a legacy value not applied because the stored resource's value (from DICOM or a hospital's
# registration) wins; see merge_with_existing. The row itself is imported.
Severity = Literal["warning", "rejected", "conflict"]
Outcome = Literal["imported", "imported_with_warnings", "rejected"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("imported", "imported_with_warnings", "rejected")


@dataclass(frozen=True, slots=True)
class LegacyIssue:
    table: str
    row_id: str
    severity: Severity
    field: str | None  # the legacy column at fault; None when the row as a whole is
    reason: str


@dataclass(slots=True)
class LegacyMapping:
    resource: dict[str, Any] | None  # None: the row is rejected
    issues: list[LegacyIssue]

    @property
    def outcome(self) -> Outcome:
        if self.resource is None:
            return "rejected"
        return "imported_with_warnings" if self.issues else "imported"


@dataclass(slots=True)
class LegacyImport:
    resources: list[dict[str, Any]]  # Organizations, Endpoints, Patients, ImagingStudies: references resolve
    issues: list[LegacyIssue]
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)  # per table, one per input row

    def summary(self) -> dict[str, int]:
        """``{"hospitals.imported": 3, "hospitals.imported_with_warnings": 0, ...}`` for every table;
        per table the three counts add up to its row count."""
        counts: dict[str, int] = {}
        for table, outcomes in self.outcomes.items():
            per_outcome = Counter(outcomes)
            counts.update({f"{table}.{outcome}": per_outcome[outcome] for outcome in OUTCOMES})
        return counts


@dataclass(slots=True)
class _RowIssues:
    """Collects one row's issues and turns the row into its LegacyMapping."""

    table: str
    row_id: str
    found: list[LegacyIssue] = field(default_factory=list)

    def warn(self, column: str | None, reason: str) -> None:
        self.found.append(LegacyIssue(self.table, self.row_id, "warning", column, reason))

    def rejected(self, column: str | None, reason: str) -> LegacyMapping:
        self.found.append(LegacyIssue(self.table, self.row_id, "rejected", column, reason))
        return LegacyMapping(None, self.found)

    def mapped(self, resource: dict[str, Any]) -> LegacyMapping:
        # A safety net, not the plan: the builders only produce valid resources, but a value the cleaning
        # did not foresee must end as a reported rejection, never as an invalid write.
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except ValidationError as error:
            return self.rejected(
                None, f"the mapped {resource['resourceType']} is invalid FHIR: {_errors(error)}"
            )
        return LegacyMapping(resource, self.found)


def _errors(error: ValidationError) -> str:
    """One line per report row: ``birthDate: <message>; name.0.given: <message>``."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())


# --- hospitals ------------------------------------------------------------------------------------------


def hospital_to_organization(row: Mapping[str, Any]) -> LegacyMapping:
    """An active Organization with the legacy id as identifier, name, postal address text and telecom."""
    issues, legacy_id, fhir_id = _start_row("hospitals", row)
    if fhir_id is None:
        return issues.rejected("id", _unusable_id_reason(legacy_id))
    name = clean_text(row, "name")
    if name is None:
        issues.warn("name", "name is empty; the Organization is known only by its legacy identifier")
    address = clean_text(row, "address")
    return issues.mapped(
        compact(
            resourceType="Organization",
            id=fhir_id,
            identifier=[_legacy_identifier(LEGACY_HOSPITAL_ID_SYSTEM, legacy_id, _ORGANIZATION_ID_TYPE)],
            active=True,
            name=name,
            telecom=_telecom(row, phone="phone", email="email"),
            address=[{"text": address}] if address else None,
        )
    )


def hospital_endpoint_id(hospital_fhir_id: str) -> str:
    return f"{hospital_fhir_id}-dicomweb"


def hospital_endpoint(hospital_fhir_id: str, name: str, address: str | None) -> dict[str, Any]:
    """The hospital's DICOMweb WADO-RS Endpoint, which ImagingStudy.endpoint links studies to their hospital.

    ``address`` is the DICOMweb service base; without one the Endpoint is ``off`` and addressed at
    UNKNOWN_DICOMWEB_ADDRESS. Raises ValueError for an address that is not a DICOMweb service base.
    """
    org_ref = f"Organization/{hospital_fhir_id}"
    if address:
        (endpoint,) = [
            e
            for e in dicomweb_endpoints(org_ref, address, name=name)
            if e["connectionType"]["code"] == _WADO_RS
        ]
    else:
        endpoint = _unaddressed_wado_rs_endpoint(org_ref, name)
    return {"resourceType": "Endpoint", "id": hospital_endpoint_id(hospital_fhir_id), **endpoint}


def _unaddressed_wado_rs_endpoint(org_ref: str, name: str) -> dict[str, Any]:
    # The same elements dicomweb_endpoints gives a live hospital, so both kinds read and search alike.
    return {
        "resourceType": "Endpoint",
        "extension": [requires_access_token()],
        "status": "off",
        "connectionType": {
            "system": ENDPOINT_CONNECTION_TYPE_SYSTEM,
            "code": _WADO_RS,
            "display": "DICOM WADO-RS",
        },
        "name": name,
        "managingOrganization": {"reference": org_ref},
        "payloadType": [{"text": "DICOM WADO-RS"}],
        "payloadMimeType": ["application/dicom"],
        "address": UNKNOWN_DICOMWEB_ADDRESS,
    }


# --- patients -------------------------------------------------------------------------------------------


def patient_to_patient(
    row: Mapping[str, Any], *, national_id_system: str = NATIONAL_ID_SYSTEM
) -> LegacyMapping:
    """A Patient with national and legacy identifiers, name, gender, birthDate and phone.

    Rejected only for an id that cannot make a FHIR id. An empty, unreadable or unrecognised national id,
    name, gender or birth date leaves that element out with a warning: the person exists regardless.
    """
    issues, legacy_id, fhir_id = _start_row("patients", row)
    if fhir_id is None:
        return issues.rejected("id", _unusable_id_reason(legacy_id))
    national_identifier = _national_identifier(row, national_id_system, issues)
    legacy_identifier = _legacy_identifier(LEGACY_PATIENT_ID_SYSTEM, legacy_id, _LEGACY_PATIENT_ID_TYPE)
    return issues.mapped(
        compact(
            resourceType="Patient",
            id=fhir_id,
            identifier=[i for i in (national_identifier, legacy_identifier) if i],
            name=_patient_name(row, issues),
            telecom=_telecom(row, phone="phone"),
            gender=_patient_gender(row, issues),
            birthDate=_birth_date(row, issues),
        )
    )


def _national_identifier(row: Mapping[str, Any], system: str, issues: _RowIssues) -> dict[str, Any] | None:
    raw = clean_text(row, "national_id")
    if raw is None:
        issues.warn("national_id", "national_id is empty; the Patient has only its legacy identifier")
        return None
    value = canonical_national_id(raw)
    if value != raw:
        issues.warn("national_id", f"national_id {raw!r} stored as {value!r} (spaces removed, upper case)")
    return {"use": "official", "type": _NATIONAL_ID_TYPE, "system": system, "value": value}


def _patient_name(row: Mapping[str, Any], issues: _RowIssues) -> list[dict[str, Any]] | None:
    family, given = clean_text(row, "last_name"), clean_text(row, "first_name")
    if family is None and given is None:
        issues.warn("last_name", "first_name and last_name are empty; Patient.name omitted")
        return None
    return [compact(family=family, given=[given] if given else None)]


def _patient_gender(row: Mapping[str, Any], issues: _RowIssues) -> str | None:
    raw = clean_text(row, "gender")
    if raw is None:
        issues.warn("gender", "gender is empty; Patient.gender omitted")
        return None
    gender = fhir_gender(raw)
    if gender is None:
        issues.warn("gender", f"gender {raw!r} is not a recognised spelling; Patient.gender omitted")
    return gender


def _birth_date(row: Mapping[str, Any], issues: _RowIssues) -> str | None:
    raw = clean_text(row, "date_of_birth")
    if raw is None:
        issues.warn("date_of_birth", "date_of_birth is empty; Patient.birthDate omitted")
        return None
    birth_date = fhir_date(raw)
    if birth_date is None:
        issues.warn(
            "date_of_birth", f"date_of_birth {raw!r} is not a recognised date; Patient.birthDate omitted"
        )
    return birth_date


# --- studies --------------------------------------------------------------------------------------------


def study_to_imaging_study(
    row: Mapping[str, Any],
    *,
    patients: Mapping[str, str],
    hospitals: Mapping[str, str],
    modality_to_dcm: ModalityLookup,
    default_tz: tzinfo | None = EAST_AFRICA_TIME,
) -> LegacyMapping:
    """An ``available`` ImagingStudy of an imported patient, linked to its hospital through the hospital's
    Endpoint.

    ``patients`` and ``hospitals`` map legacy ids to the FHIR ids of the imported resources. ``default_tz``
    is the hospitals' time zone, which the legacy timestamps omit; None keeps only their date.
    Status is ``available`` even without a date: the legacy application only recorded performed studies,
    and a missing date is a gap in the record, not doubt about the images.
    """
    issues, legacy_id, fhir_id = _start_row("studies", row)
    if fhir_id is None:
        return issues.rejected("id", _unusable_id_reason(legacy_id))
    legacy_patient_id = clean_text(row, "patient_id")
    patient_fhir_id = patients.get(legacy_patient_id) if legacy_patient_id else None
    if patient_fhir_id is None:
        return issues.rejected("patient_id", _dangling_patient_reason(legacy_patient_id))
    hospital_fhir_id = _hospital_fhir_id(row, hospitals, issues)
    modality, modality_note = _modality(row, modality_to_dcm, issues)
    return issues.mapped(
        compact(
            resourceType="ImagingStudy",
            id=fhir_id,
            identifier=_study_identifiers(row, legacy_id, hospital_fhir_id),
            status="available",
            modality=modality,
            subject={"reference": f"Patient/{patient_fhir_id}"},
            started=_started(row, default_tz, issues),
            endpoint=[{"reference": f"Endpoint/{hospital_endpoint_id(hospital_fhir_id)}"}]
            if hospital_fhir_id
            else None,
            description=_description(row, issues),
            note=modality_note,
        )
    )


def _dangling_patient_reason(legacy_patient_id: str | None) -> str:
    if legacy_patient_id is None:
        return "patient_id is empty, and ImagingStudy.subject is required"
    return (
        f"patient_id {legacy_patient_id!r} is not an imported patient (absent from the patients table, "
        "or rejected there), and ImagingStudy.subject is required"
    )


def _hospital_fhir_id(row: Mapping[str, Any], hospitals: Mapping[str, str], issues: _RowIssues) -> str | None:
    legacy_hospital_id = clean_text(row, "hospital_id")
    if legacy_hospital_id is None:
        issues.warn("hospital_id", "hospital_id is empty; the study is imported without a hospital")
        return None
    hospital_fhir_id = hospitals.get(legacy_hospital_id)
    if hospital_fhir_id is None:
        issues.warn(
            "hospital_id",
            f"hospital_id {legacy_hospital_id!r} is not an imported hospital; the study is imported without "
            "a hospital (no ImagingStudy.endpoint)",
        )
    return hospital_fhir_id


def _study_identifiers(
    row: Mapping[str, Any], legacy_id: str, hospital_fhir_id: str | None
) -> list[dict[str, Any]]:
    identifiers = [_legacy_identifier(LEGACY_STUDY_ID_SYSTEM, legacy_id)]
    orthanc_id = clean_text(row, "orthanc_study_id")
    if orthanc_id:
        # Orthanc ids are unique per Orthanc server, so the hospital that runs it is part of the identifier.
        assigner = {"reference": f"Organization/{hospital_fhir_id}"} if hospital_fhir_id else None
        identifiers.append(compact(system=ORTHANC_STUDY_ID_SYSTEM, value=orthanc_id, assigner=assigner))
    return identifiers


def _modality(
    row: Mapping[str, Any], modality_to_dcm: ModalityLookup, issues: _RowIssues
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """ImagingStudy.modality Codings, and a note keeping the legacy text whenever it is not itself the DCM
    code: an unmapped value must not vanish, and a translated one ("X-Ray" -> DX) is an interpretation."""
    raw = clean_text(row, "modality")
    if raw is None:
        issues.warn("modality", "modality is empty; ImagingStudy.modality omitted")
        return [], []
    note = [{"text": f"Legacy modality: {raw}"}]
    codings = dcm_codings(modality_to_dcm(raw))
    if not codings:
        issues.warn(
            "modality",
            f"modality {raw!r} has no DCM mapping; ImagingStudy.modality omitted, the text is kept in a note",
        )
        return [], note
    if raw.casefold() in {coding["code"].casefold() for coding in codings}:
        return codings, []
    return codings, note


def _started(row: Mapping[str, Any], default_tz: tzinfo | None, issues: _RowIssues) -> str | None:
    raw = clean_text(row, "study_date")
    if raw is None:
        issues.warn("study_date", "study_date is empty; ImagingStudy.started omitted")
        return None
    started = fhir_datetime(raw, default_tz)
    if started is None:
        issues.warn(
            "study_date", f"study_date {raw!r} is not a recognised date; ImagingStudy.started omitted"
        )
    return started


def _description(row: Mapping[str, Any], issues: _RowIssues) -> str | None:
    # An empty description is simply absent: nothing was lost, so it is not worth a warning.
    raw = clean_text(row, "description")
    if raw is None:
        return None
    text = strip_markup(raw)
    if text != " ".join(raw.split()):
        left = f"kept {text!r}" if text else "nothing is left, ImagingStudy.description omitted"
        issues.warn("description", f"markup removed from the description ({raw!r}): {left}")
    return text or None


# --- shared row helpers ---------------------------------------------------------------------------------


def _start_row(table: str, row: Mapping[str, Any]) -> tuple[_RowIssues, str, str | None]:
    """The row's issue collector, legacy id ('' when missing) and derived FHIR id (None when unusable)."""
    legacy_id = clean_text(row, "id") or ""
    fhir_id = legacy_fhir_id(legacy_id) if legacy_id else None
    return _RowIssues(table, legacy_id or "<no id>"), legacy_id, fhir_id


def _unusable_id_reason(legacy_id: str) -> str:
    if not legacy_id:
        return "id is empty, so no stable FHIR id can be derived"
    return (
        f"id {legacy_id!r} cannot become a FHIR id: only letters, digits, '-' and '.' are allowed, "
        f"at most {LEGACY_ID_MAX_LENGTH} characters"
    )


def _legacy_identifier(system: str, value: str, type_: dict[str, Any] | None = None) -> dict[str, Any]:
    return compact(use=_LEGACY_USE, type=type_, system=system, value=value)


def _telecom(row: Mapping[str, Any], **column_by_system: str) -> list[dict[str, str]]:
    """ContactPoints for the non-empty columns, e.g. ``_telecom(row, phone="phone", email="email")``."""
    contact_points = []
    for system, column in column_by_system.items():
        value = clean_text(row, column)
        if value:
            contact_points.append({"system": system, "value": value})
    return contact_points


# --- whole database -------------------------------------------------------------------------------------


def map_legacy_database(
    rows: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    modality_to_dcm: ModalityLookup,
    national_id_system: str = NATIONAL_ID_SYSTEM,
    default_tz: tzinfo | None = EAST_AFRICA_TIME,
) -> LegacyImport:
    """Maps every row of ``{"hospitals": [...], "patients": [...], "studies": [...]}`` (see read_legacy_rows).

    Beyond the per-row rules: each hospital also gets its (unaddressed) DICOMweb Endpoint; a row whose FHIR
    id or canonical national id repeats an earlier row's is rejected, naming that row; studies are linked
    only to patients and hospitals that were actually imported.
    """
    result = new_legacy_import()
    result.resources = list(
        iter_legacy_database(
            rows,
            result,
            modality_to_dcm=modality_to_dcm,
            national_id_system=national_id_system,
            default_tz=default_tz,
        )
    )
    return result


def new_legacy_import() -> LegacyImport:
    return LegacyImport(resources=[], issues=[], outcomes={table: [] for table in TABLES})


def iter_legacy_database(
    rows: Mapping[str, Iterable[Mapping[str, Any]]],
    result: LegacyImport,
    *,
    modality_to_dcm: ModalityLookup,
    national_id_system: str = NATIONAL_ID_SYSTEM,
    default_tz: tzinfo | None = EAST_AFRICA_TIME,
) -> Iterator[dict[str, Any]]:
    """``map_legacy_database`` one resource at a time, in the same order (Organizations, Endpoints,
    Patients, ImagingStudies), so that a bulk import can write early resources while later rows are still
    being mapped. ``result`` (see ``new_legacy_import``) collects issues and outcomes as the rows are mapped;
    its ``resources`` are left alone.
    """
    organizations, endpoints = _import_hospitals(rows.get("hospitals", ()), result)
    yield from organizations
    yield from endpoints
    patients: dict[str, str] = {}
    for patient in _import_patients(rows.get("patients", ()), national_id_system, result):
        patients[_legacy_id_of(patient)] = patient["id"]
        yield patient
    yield from _import_studies(
        rows.get("studies", ()),
        patients=patients,
        hospitals={_legacy_id_of(o): o["id"] for o in organizations},
        modality_to_dcm=modality_to_dcm,
        default_tz=default_tz,
        result=result,
    )


def _import_hospitals(
    rows: Iterable[Mapping[str, Any]], result: LegacyImport
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    first_rows = _FirstRows("hospitals", ("id",))
    organizations: list[dict[str, Any]] = []
    for row in rows:
        mapping = first_rows.admit(hospital_to_organization(row))
        _record(mapping, "hospitals", result)
        if mapping.resource:
            organizations.append(mapping.resource)
    endpoints = [hospital_endpoint(o["id"], o.get("name") or _legacy_id_of(o), None) for o in organizations]
    return organizations, endpoints


def _import_patients(
    rows: Iterable[Mapping[str, Any]], national_id_system: str, result: LegacyImport
) -> Iterator[dict[str, Any]]:
    first_rows = _FirstRows("patients", ("id", "national_id"))
    for row in rows:
        mapping = first_rows.admit(patient_to_patient(row, national_id_system=national_id_system))
        _record(mapping, "patients", result)
        if mapping.resource:
            yield mapping.resource


def _import_studies(
    rows: Iterable[Mapping[str, Any]],
    *,
    patients: Mapping[str, str],
    hospitals: Mapping[str, str],
    modality_to_dcm: ModalityLookup,
    default_tz: tzinfo | None,
    result: LegacyImport,
) -> Iterator[dict[str, Any]]:
    first_rows = _FirstRows("studies", ("id",))
    for row in rows:
        mapping = study_to_imaging_study(
            row,
            patients=patients,
            hospitals=hospitals,
            modality_to_dcm=modality_to_dcm,
            default_tz=default_tz,
        )
        mapping = first_rows.admit(mapping)
        _record(mapping, "studies", result)
        if mapping.resource:
            yield mapping.resource


@dataclass(slots=True)
class _FirstRows:
    """Which imported row first claimed each key, so that a later row with the same key is rejected.

    ``id`` keys are FHIR ids, which are lower case: legacy ids differing only in case would overwrite each
    other. ``national_id`` keys are canonical national ids, so spacing and case do not hide a duplicate.
    A rejected row claims nothing.
    """

    table: str
    columns: tuple[str, ...]
    claimed: dict[tuple[str, str], str] = field(default_factory=dict)

    def admit(self, mapping: LegacyMapping) -> LegacyMapping:
        if mapping.resource is None:
            return mapping
        row_id = _legacy_id_of(mapping.resource)
        keys = [(column, key) for column in self.columns if (key := _duplicate_key(mapping.resource, column))]
        for column, key in keys:
            first_row = self.claimed.get((column, key))
            if first_row is not None:
                issues = _RowIssues(self.table, row_id, list(mapping.issues))
                return issues.rejected(
                    column, f"duplicate of {self.table} row {first_row!r}: both have {column} {key!r}"
                )
        self.claimed.update(dict.fromkeys(keys, row_id))
        return mapping


_LEGACY_SYSTEMS: Final = (LEGACY_HOSPITAL_ID_SYSTEM, LEGACY_PATIENT_ID_SYSTEM, LEGACY_STUDY_ID_SYSTEM)


def _duplicate_key(resource: dict[str, Any], column: str) -> str | None:
    if column == "id":
        resource_id: str = resource["id"]
        return resource_id
    return next((i["value"] for i in resource.get("identifier", []) if i.get("use") == "official"), None)


def _legacy_id_of(resource: dict[str, Any]) -> str:
    legacy_id: str = next(i["value"] for i in resource["identifier"] if i["system"] in _LEGACY_SYSTEMS)
    return legacy_id


def _record(mapping: LegacyMapping, table: str, result: LegacyImport) -> None:
    result.issues.extend(mapping.issues)
    result.outcomes[table].append(mapping.outcome)


# --- stored data: legacy values only fill gaps ----------------------------------------------------------

# What an import must never overwrite, by who wrote it: the sync builds a study from DICOM (its Study Instance
# UID identifier and series are nothing the legacy app ever had), and registering a hospital addresses its
# Endpoint and links its Organization to its Endpoints.
_FROM_DICOM: Final = "DICOM"
_FROM_REGISTRATION: Final = "hospital registration"
# The server sets these on every write; they are not content.
# Legacy columns behind the elements the mapping produces, so that a conflict row names its column like a
# warning does. Elements without a column (status, active, everything of an Endpoint) name none.
_COLUMNS: Final[dict[tuple[str, str], str]] = {
    ("ImagingStudy", "description"): "description",
    ("ImagingStudy", "started"): "study_date",
    ("ImagingStudy", "modality"): "modality",
    ("ImagingStudy", "note"): "modality",
    ("ImagingStudy", "subject"): "patient_id",
    ("ImagingStudy", "endpoint"): "hospital_id",
    ("Organization", "name"): "name",
    ("Organization", "address"): "address",
}
_IDENTIFIER_COLUMNS: Final = {ORTHANC_STUDY_ID_SYSTEM: "orthanc_study_id"} | dict.fromkeys(
    (LEGACY_HOSPITAL_ID_SYSTEM, LEGACY_PATIENT_ID_SYSTEM, LEGACY_STUDY_ID_SYSTEM), "id"
)
# Lists merged item by item: an item is "the same" as a stored one with equal key and value, is added when
# no stored item has its key, and conflicts with stored items of its key but another value. Notes are keyed
# by their text, so they never conflict: a different text is another note.
_ITEM_KEYS: Final = {"identifier": "system", "telecom": "system", "note": "text"}
_ITEM_VALUES: Final = {"identifier": "value", "telecom": "value", "note": "text"}


@dataclass(frozen=True, slots=True)
class LegacyMerge:
    """A mapped resource merged into the stored one whose values win (see merge_with_existing)."""

    resource: dict[str, Any]  # the stored content plus the legacy values that fill its gaps
    source: str  # whose values won, e.g. "DICOM"
    added: tuple[str, ...]  # elements that received legacy values, e.g. ("description",)
    conflicts: tuple[LegacyIssue, ...]  # one per legacy value not applied (one per Endpoint)


def stored_data_source(resource: Mapping[str, Any]) -> str | None:
    """Who wrote the stored resource's values an import must not overwrite; None when only an import did.

    Decided from the data itself, so that it holds for data dirs synced before this rule existed: an
    ImagingStudy with series or a Study Instance UID identifier was built by the DICOMweb sync; an Endpoint
    with an address other than the legacy placeholder, or an Organization linked to its Endpoints, by
    registering the hospital. The legacy mapping produces none of these.
    """
    resource_type = resource.get("resourceType")
    if resource_type == "ImagingStudy":
        uids = [i for i in resource.get("identifier") or [] if i.get("system") == DICOM_UID_SYSTEM]
        return _FROM_DICOM if resource.get("series") or uids else None
    if resource_type == "Endpoint":
        address = resource.get("address")
        return _FROM_REGISTRATION if address and address != UNKNOWN_DICOMWEB_ADDRESS else None
    if resource_type == "Organization":
        return _FROM_REGISTRATION if resource.get("endpoint") else None
    return None


def merge_with_existing(
    legacy: Mapping[str, Any], stored: Mapping[str, Any], *, table: str, row_id: str
) -> LegacyMerge | None:
    """``legacy`` (a mapped resource) merged into ``stored`` (the current version under the same id), or None
    when ``stored`` holds only what imports wrote: then the mapping replaces it, as a re-import always did.

    Otherwise every stored value wins: a legacy element is added only where the stored resource has none
    (e.g. a description the DICOM lacks), a legacy identifier, telecom or note only where no stored one has
    its system (or text), and each legacy value that differs from the stored one is a conflict row of
    ``table``/``row_id``. Values are compared for meaning: displays, list order, spacing in text and the
    notation of an instant do not make a conflict. An Endpoint's conflicts make one row: the legacy Endpoint
    is a placeholder, so its address, status and name conflict together or not at all.
    """
    source = stored_data_source(stored)
    if source is None:
        return None
    resource_type = str(stored["resourceType"])
    merged = content(stored)
    added: list[str] = []
    conflicts: list[tuple[str, str | None, Any, Any]] = []  # element, legacy column, stored, legacy value
    for element, offered in legacy.items():
        if element in ("resourceType", "id", "meta"):
            continue
        kept = merged.get(element)
        if kept in (None, "", [], {}):
            merged[element] = offered
            added.append(element)
        elif element in _ITEM_KEYS:
            items, clashes = _merged_items(element, kept, offered)
            if len(items) > len(kept):
                merged[element] = items
                added.append(element)
            conflicts += [(element, _item_column(element, o), k, o) for k, o in clashes]
        elif not _same_meaning(element, kept, offered):
            conflicts.append((element, _COLUMNS.get((resource_type, element)), kept, offered))
    issues = [
        LegacyIssue(
            table,
            row_id,
            "conflict",
            column,
            f"{resource_type}.{element}: kept {_shown(kept)} from {source}; "
            f"the legacy value {_shown(offered)} is not applied",
        )
        for element, column, kept, offered in conflicts
    ]
    if resource_type == "Endpoint" and conflicts:
        issues = [_endpoint_conflict(str(stored["id"]), source, conflicts, table, row_id)]
    return LegacyMerge(merged, source, tuple(added), tuple(issues))


def legacy_row(resource: Mapping[str, Any], hospital_ids: Mapping[str, str]) -> tuple[str, str]:
    """The table and legacy id of the row a mapped resource comes from, for its report rows.

    An Endpoint carries no legacy id of its own: ``hospital_ids`` maps Organization ids to legacy hospital ids
    (the Organizations come first in an import), else the Endpoint's own id stands in.
    """
    resource_type = resource["resourceType"]
    if resource_type == "Endpoint":
        organization = str(resource.get("managingOrganization", {}).get("reference", "")).split("/")[-1]
        return "hospitals", hospital_ids.get(organization, str(resource["id"]))
    table = {"Organization": "hospitals", "Patient": "patients"}.get(resource_type, "studies")
    return table, _legacy_id_of(dict(resource))


def _merged_items(
    element: str, kept: list[dict[str, Any]], offered: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]]]:
    """The stored items plus the legacy items whose key no stored item has; and the (stored, legacy) pairs
    that share a key but not a value."""
    key, value = _ITEM_KEYS[element], _ITEM_VALUES[element]
    items = list(kept)
    clashes: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for item in offered:
        same_key = [k for k in kept if k.get(key) == item.get(key)]
        if not same_key:
            items.append(item)
        elif all(k.get(value) != item.get(value) for k in same_key):
            clashes.append((same_key[0], item))
    return items, clashes


def _item_column(element: str, item: Mapping[str, Any]) -> str | None:
    if element == "identifier":
        return _IDENTIFIER_COLUMNS.get(item.get("system") or "")
    if element == "telecom":
        return item.get("system")  # the hospital's phone and email columns are named like the systems
    return None


def _same_meaning(element: str, kept: Any, offered: Any) -> bool:
    if element == "started" and isinstance(kept, str) and isinstance(offered, str):
        return _same_instant(kept, offered)
    if isinstance(kept, str) and isinstance(offered, str):
        return " ".join(kept.split()) == " ".join(offered.split())
    return _canonical(kept) == _canonical(offered)


def _same_instant(kept: str, offered: str) -> bool:
    # "10:30:00+03:00" and "07:30:00Z" are one instant; a date and a date-time are different claims.
    if "T" not in kept or "T" not in offered:
        return kept == offered
    try:
        return datetime.fromisoformat(kept) == datetime.fromisoformat(offered)
    except ValueError:
        return kept == offered


def _canonical(value: Any) -> object:
    """Comparable form: displays dropped (the sync and registration add them), lists as sorted tuples."""
    if isinstance(value, dict):
        return tuple(sorted((k, _canonical(v)) for k, v in value.items() if k != "display"))
    if isinstance(value, list):
        return tuple(sorted((_canonical(v) for v in value), key=repr))
    return value


def _shown(value: Any) -> str:
    """A value as a report reads it: 'text', system|value, Patient/x, DX."""
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        if "reference" in value:
            return str(value["reference"])
        if "value" in value:
            return f"{value.get('system') or ''}|{value['value']}"
        if "code" in value:
            return str(value["code"])
        if set(value) == {"text"}:
            return repr(value["text"])
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return repr(value)


def _endpoint_conflict(
    endpoint_id: str, source: str, conflicts: list[tuple[str, str | None, Any, Any]], table: str, row_id: str
) -> LegacyIssue:
    conflicts = sorted(conflicts, key=lambda conflict: conflict[0] != "address")  # the address first
    kept = ", ".join(f"{element} {_shown(value)}" for element, _, value, _ in conflicts)
    placeholder = ", ".join(f"{element} {_shown(value)}" for element, _, _, value in conflicts)
    return LegacyIssue(
        table,
        row_id,
        "conflict",
        None,
        f"Endpoint/{endpoint_id} keeps {kept} from {source}; the legacy placeholder ({placeholder}) is only "
        "for hospitals without a DICOMweb address",
    )


# --- I/O edges ------------------------------------------------------------------------------------------


def read_legacy_rows(connection: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    """Every row of the three legacy tables as plain dicts, in insertion (rowid) order."""
    return {table: _table_rows(connection, table) for table in TABLES}


def _table_rows(connection: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    # The table name comes from TABLES, never from input, so formatting it into the SQL is safe.
    cursor = connection.execute(f"SELECT * FROM {table} ORDER BY rowid")
    columns = [description[0] for description in cursor.description]
    return [dict(zip(columns, values, strict=True)) for values in cursor]


def report_rows(issues: Iterable[LegacyIssue]) -> list[dict[str, str | None]]:
    """One flat dict per issue, ready for json.dump or csv.DictWriter."""
    return [
        {
            "row_id": issue.row_id,
            "table": issue.table,
            "severity": issue.severity,
            "field": issue.field,
            "reason": issue.reason,
        }
        for issue in issues
    ]
