"""Which Patient a DICOM study belongs to.

Where the national ID is, is a rule per hospital (`HospitalConnection.national_id_source`):
- `issuer` (the default): Issuer of Patient ID (0010,0021) or an Other Patient IDs Sequence (0010,1002)
  item whose issuer is the national-ID system (or a text the hospital registered for it);
- `patient-id`: the PACS stores the national ID itself as PatientID (no issuer); Other Patient IDs with a
  registered issuer are still read when PatientID is empty.

Matching, first hit wins (an identifier that matches several Patients is ambiguous and not used):
1. the national ID; this is what joins a patient's studies across hospitals;
2. the DICOM PatientID under its issuer (the header's, else the hospital's patient-ID system).
A Patient merged into another (`link` of type `replaced-by`, see Patient/$merge) stands for the one it was
merged into: a study of it goes to the survivor, and the source and survivor sharing an identifier is no
ambiguity.

An unmatched study is not dropped: a Patient is created from the header (mappers.patient) with the PatientID
and the national ID as identifiers, and a deterministic id (from the national ID when there is one, so that
two hospitals' syncs racing for one person write one Patient), and the sync summary lists it. Guessing by
name and birth date is deliberately not done: when the new Patient has the same demographics as an existing
one, a match candidate is recorded (fhir_server.patients.candidates) for a person to merge or dismiss.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlencode

from fhir_server.dicomweb import ids
from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.sync.writes import write_if_changed
from fhir_server.interactions.lookup import FindIds, identifier_query
from fhir_server.interactions.patient_links import replaced_by
from fhir_server.patients import REASON, MatchCandidates, demographic_keys, identifier_values
from fhir_server.storage.repository import ResourceStore, ResourceVersion
from mappers.dicom_json import DicomJson, items, text
from mappers.dicom_tags import Tag
from mappers.legacy_values import canonical_national_id
from mappers.patient import patient_from_dicom_json
from terminology.systems import V2_0203_SYSTEM

log = logging.getLogger(__name__)

OTHER_PATIENT_IDS_SEQUENCE = "00101002"
_NATIONAL_ID_TYPE = {"coding": [{"system": V2_0203_SYSTEM, "code": "NI"}]}
# Merges chain (A into B, later B into C); a cycle could only come from hand-edited links.
_MAX_MERGE_HOPS = 10

MatchedBy = Literal["national-id", "patient-id", "created", "existing-created"]


@dataclass(frozen=True)
class PatientMatch:
    reference: str
    matched_by: MatchedBy
    patient_id: str | None  # the DICOM PatientID, for the sync report
    ambiguous: tuple[str, ...] = ()  # identifiers that matched more than one Patient
    possible_duplicates: tuple[str, ...] = ()  # existing Patients a new one resembles (candidates recorded)

    @property
    def created(self) -> bool:
        return self.matched_by == "created"


class PatientMatcher:
    def __init__(
        self,
        repository: ResourceStore,
        find_ids: FindIds,
        hospital: HospitalConnection,
        national_id_system: str,
        candidates: MatchCandidates,
    ) -> None:
        self._repository = repository
        self._find_ids = find_ids
        self._hospital = hospital
        self._national_system = national_id_system
        self._candidates = candidates

    def match(self, attributes: DicomJson, study_uid: str) -> PatientMatch:
        """`attributes`: the study's patient module (QIDO result with an instance's metadata as fallback)."""
        header = patient_from_dicom_json(attributes, issuer_system=self._hospital.patient_id_system)
        local = (header.get("identifier") or [None])[0]
        national = self.national_id(attributes)
        dicom_patient_id = text(attributes, Tag.PatientID)
        ambiguous: list[str] = []
        lookups: list[tuple[MatchedBy, str | None, str]] = []
        if national is not None:
            lookups.append(("national-id", self._national_system, national))
        if local is not None:
            lookups.append(("patient-id", local.get("system"), local["value"]))
        for matched_by, system, value in lookups:
            found = self._survivors(
                self._find_ids(self._repository, "Patient", identifier_query(system, value))
            )
            if len(found) == 1:
                return PatientMatch(f"Patient/{found[0]}", matched_by, dicom_patient_id)
            if len(found) > 1:
                ambiguous.append(f"{system}|{value}")
        match, created = self._create(header, national, study_uid, tuple(ambiguous), dicom_patient_id)
        if created is not None:
            duplicates = self._record_possible_duplicates(created, national, study_uid)
            match = replace(match, possible_duplicates=duplicates)
        return match

    def national_id(self, attributes: DicomJson) -> str | None:
        if self._hospital.national_id_source == "patient-id":
            value = text(attributes, Tag.PatientID)
            if value and value.strip():
                return canonical_national_id(value)
        accepted = {self._national_system, *self._hospital.national_id_issuers}
        for dataset in [attributes, *items(attributes, OTHER_PATIENT_IDS_SEQUENCE)]:
            issuer = text(dataset, Tag.IssuerOfPatientID)
            value = text(dataset, Tag.PatientID)
            if issuer in accepted and value:
                return canonical_national_id(value)
        return None

    def _survivors(self, patient_ids: list[str]) -> list[str]:
        """The Patients these stand for once merges are followed, each once, in order."""
        return list(dict.fromkeys(self._survivor(i) for i in patient_ids))

    def _survivor(self, patient_id: str) -> str:
        return self._follow(patient_id, self._repository.read("Patient", patient_id))

    def _follow(self, patient_id: str, version: ResourceVersion | None) -> str:
        """`_survivor` from the Patient's version already read: each Patient on the way is read once."""
        current = patient_id
        seen = {current}
        for _hop in range(_MAX_MERGE_HOPS):
            resource = version.resource if version is not None and not version.deleted else None
            following = replaced_by(resource) if resource is not None else None
            if following is None or following in seen:
                return current
            # A survivor that is gone (deleted since) is no place for a study: keep the last live one.
            target = self._repository.read("Patient", following)
            if target is None or target.deleted:
                return current
            seen.add(following)
            current, version = following, target
        return current

    def _create(
        self,
        header: dict[str, Any],
        national: str | None,
        study_uid: str,
        ambiguous: tuple[str, ...],
        dicom_patient_id: str | None,
    ) -> tuple[PatientMatch, dict[str, Any] | None]:
        """The match, and the Patient written when it was created now (None when it existed)."""
        identifiers: list[dict[str, Any]] = list(header.get("identifier") or [])
        if national is not None:
            patient_id = ids.patient_id(self._national_system, national)
        elif identifiers:
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
            # Created by an earlier sync (or a concurrent one) and perhaps edited or merged since: leave it
            # alone, and follow a merge to the survivor.
            reference = f"Patient/{self._follow(patient_id, current)}"
            return PatientMatch(reference, "existing-created", dicom_patient_id, ambiguous), None
        resource = {**header, "resourceType": "Patient", "id": patient_id}
        if identifiers:
            resource["identifier"] = identifiers
        outcome, _ = write_if_changed(self._repository, resource)
        matched_by: MatchedBy = "created" if outcome == "created" else "existing-created"
        match = PatientMatch(f"Patient/{patient_id}", matched_by, dicom_patient_id, ambiguous)
        return match, resource if outcome == "created" else None

    def _record_possible_duplicates(
        self, created: dict[str, Any], national: str | None, study_uid: str
    ) -> tuple[str, ...]:
        """Existing Patients with the same demographics as the one just created, each recorded as a match
        candidate; never merged here."""
        keys = demographic_keys(created)
        if not keys:
            return ()
        birth, gender = next(iter(keys))[2:]
        found: set[str] = set()
        # The family initial keeps the lookup small (one birthday and sex is many people in a country);
        # the full comparison is done below on the normalized names.
        for initial in sorted({family[:1] for family, _given, _b, _g in keys}):
            query = urlencode({"birthdate": f"eq{birth}", "gender": gender, "family": initial})
            found.update(self._find_ids(self._repository, "Patient", query))
        found.discard(created["id"])
        duplicates: list[str] = []
        for other_id in sorted(found):
            version = self._repository.read("Patient", other_id)
            other = version.resource if version is not None and not version.deleted else None
            if other is None or replaced_by(other) is not None or not keys & demographic_keys(other):
                continue
            other_nationals = identifier_values(other, self._national_system)
            if national is not None and other_nationals and national not in other_nationals:
                continue  # two different national IDs: two people, however alike
            self._candidates.record(
                created["id"],
                other_id,
                reason=REASON,
                hospital=self._hospital.organization_id,
                hospital_name=self._hospital.name,
                study_uid=study_uid,
            )
            duplicates.append(f"Patient/{other_id}")
            log.info(
                "dicomweb sync of %s: Patient/%s may be the same person as Patient/%s (%s); "
                "review it under GET /admin/patient-matches",
                self._hospital.name,
                created["id"],
                other_id,
                REASON,
            )
        return tuple(duplicates)
