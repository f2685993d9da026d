"""Which Patient a DICOM study belongs to.

Matching, first hit wins (an identifier that matches several Patients is ambiguous and not used):
1. the national ID, from Issuer of Patient ID (0010,0021) or an Other Patient IDs Sequence (0010,1002) item
   whose issuer is the national-ID system (or a text the hospital registered for it); this is what joins a
   patient's studies across hospitals;
2. the DICOM PatientID under its issuer (the header's, else the hospital's patient-ID system).

An unmatched study is not dropped: a Patient is created from the header (mappers.patient) with the PatientID
(and national ID) as identifiers and a deterministic id, and the sync summary lists it, so that someone can
review or merge it. Guessing by name and birth date is deliberately not done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fhir_server.dicomweb import ids
from fhir_server.dicomweb.connections import HospitalConnection
from fhir_server.dicomweb.lookup import FindIds, identifier_query
from fhir_server.dicomweb.writes import write_if_changed
from fhir_server.storage.mongo import MongoRepository
from mappers.dicom_json import DicomJson, items, text
from mappers.dicom_tags import Tag
from mappers.legacy_values import canonical_national_id
from mappers.patient import patient_from_dicom_json
from terminology.systems import V2_0203_SYSTEM

OTHER_PATIENT_IDS_SEQUENCE = "00101002"
_NATIONAL_ID_TYPE = {"coding": [{"system": V2_0203_SYSTEM, "code": "NI"}]}

MatchedBy = Literal["national-id", "patient-id", "created", "existing-created"]


@dataclass(frozen=True)
class PatientMatch:
    reference: str
    matched_by: MatchedBy
    patient_id: str | None  # the DICOM PatientID, for the sync report
    ambiguous: tuple[str, ...] = ()  # identifiers that matched more than one Patient

    @property
    def created(self) -> bool:
        return self.matched_by == "created"


class PatientMatcher:
    def __init__(
        self,
        repository: MongoRepository,
        find_ids: FindIds,
        hospital: HospitalConnection,
        national_id_system: str,
    ) -> None:
        self._repository = repository
        self._find_ids = find_ids
        self._hospital = hospital
        self._national_system = national_id_system

    def match(self, attributes: DicomJson, study_uid: str) -> PatientMatch:
        """`attributes`: the study's patient module (QIDO result with an instance's metadata as fallback)."""
        header = patient_from_dicom_json(attributes, issuer_system=self._hospital.patient_id_system)
        local = (header.get("identifier") or [None])[0]
        national = self.national_id(attributes)
        ambiguous: list[str] = []
        candidates: list[tuple[MatchedBy, str | None, str]] = []
        if national is not None:
            candidates.append(("national-id", self._national_system, national))
        if local is not None:
            candidates.append(("patient-id", local.get("system"), local["value"]))
        for matched_by, system, value in candidates:
            found = self._find_ids(self._repository, "Patient", identifier_query(system, value))
            if len(found) == 1:
                return PatientMatch(f"Patient/{found[0]}", matched_by, text(attributes, Tag.PatientID))
            if len(found) > 1:
                ambiguous.append(f"{system}|{value}")
        return self._create(header, national, study_uid, tuple(ambiguous), text(attributes, Tag.PatientID))

    def national_id(self, attributes: DicomJson) -> str | None:
        accepted = {self._national_system, *self._hospital.national_id_issuers}
        for dataset in [attributes, *items(attributes, OTHER_PATIENT_IDS_SEQUENCE)]:
            issuer = text(dataset, Tag.IssuerOfPatientID)
            value = text(dataset, Tag.PatientID)
            if issuer in accepted and value:
                return canonical_national_id(value)
        return None

    def _create(
        self,
        header: dict[str, Any],
        national: str | None,
        study_uid: str,
        ambiguous: tuple[str, ...],
        dicom_patient_id: str | None,
    ) -> PatientMatch:
        identifiers: list[dict[str, Any]] = list(header.get("identifier") or [])
        if identifiers:
            first = identifiers[0]
            patient_id = ids.patient_id(first.get("system") or "", first["value"])
        else:
            patient_id = ids.anonymous_patient_id(self._hospital.organization_id, study_uid)
        if national is not None and not any(i.get("system") == self._national_system for i in identifiers):
            identifiers.append(
                {"type": _NATIONAL_ID_TYPE, "system": self._national_system, "value": national}
            )
        current = self._repository.read("Patient", patient_id)
        if current is not None and not current.deleted:
            # Created by an earlier sync (or a concurrent one) and perhaps edited since: leave it alone.
            return PatientMatch(f"Patient/{patient_id}", "existing-created", dicom_patient_id, ambiguous)
        resource = {**header, "resourceType": "Patient", "id": patient_id}
        if identifiers:
            resource["identifier"] = identifiers
        outcome, _ = write_if_changed(self._repository, resource)
        matched_by: MatchedBy = "created" if outcome == "created" else "existing-created"
        return PatientMatch(f"Patient/{patient_id}", matched_by, dicom_patient_id, ambiguous)
