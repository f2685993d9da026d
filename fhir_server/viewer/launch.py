"""Which studies a viewer session opens: IHE Invoke Image Display (IID, ITI TF-1 §43 / RAD TF-2 §4.106)
requests resolved through the caller's secured store, so the viewer opens exactly the studies the caller may
see, from every hospital (the viewer reads them through the federated DICOMweb root).

  requestType=STUDY    studyUID=UID[,UID…]  or  accessionNumber=ACC[,ACC…]
  requestType=PATIENT  patientID=ID         (our Patient id, or an identifier value such as a national ID)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from fhir_server.errors import FhirError, Problem
from fhir_server.security.access.store import SecuredStore
from fhir_server.type_aliases import JsonObject

STUDY = "ImagingStudy"
DICOM_UID_SYSTEM = "urn:dicom:uid"
OID_PREFIX = "urn:oid:"
VIEWER_ROUTE = "/viewer/viewer"  # OHIF's viewer mode under our router basename
_MAX_VALUES = 50
COMPARE_LAYOUT = "@ohif/hpCompare"


@dataclass(frozen=True)
class Launch:
    study_uids: list[str]

    @property
    def viewer_url(self) -> str:
        query = {"StudyInstanceUIDs": ",".join(self.study_uids)}
        if len(self.study_uids) > 1:
            # OHIF's comparison layout: the newest study beside its prior.
            query["hangingProtocolId"] = COMPARE_LAYOUT
        return f"{VIEWER_ROUTE}?{urlencode(query, safe=',@/')}"

    def to_json(self) -> JsonObject:
        return {"studyUIDs": self.study_uids, "viewerUrl": self.viewer_url}


def resolve(store: SecuredStore, query: Mapping[str, str]) -> Launch:
    """The studies an IID request names that the caller may see; 404 when there are none."""
    request_type = (query.get("requestType") or "").upper()
    if request_type == "STUDY":
        studies = _studies_of_study_request(store, query)
    elif request_type == "PATIENT":
        studies = _studies_of_patient(store, _required(query, "patientID"))
    else:
        raise FhirError(Problem.INVALID, "requestType must be STUDY or PATIENT", ["requestType"])
    uids = _unique(uid for study in _newest_first(studies) if (uid := study_uid(study)))
    if not uids:
        raise FhirError(Problem.NOT_FOUND, "No imaging study you may see matches this request")
    return Launch(uids)


def study_uid(study: JsonObject) -> str | None:
    for identifier in study.get("identifier") or []:
        value = identifier.get("value")
        if identifier.get("system") == DICOM_UID_SYSTEM and isinstance(value, str):
            return value.removeprefix(OID_PREFIX)
    return None


def _studies_of_study_request(store: SecuredStore, query: Mapping[str, str]) -> list[JsonObject]:
    if query.get("studyUID"):
        values = _values(query, "studyUID")
        return _search(store, "identifier=" + ",".join(quote(OID_PREFIX + v, safe=":") for v in values))
    if query.get("accessionNumber"):
        values = _values(query, "accessionNumber")
        # ImagingStudy.identifier holds the accession number as a typed identifier (ACSN).
        return _search(store, "identifier=" + ",".join(quote(v, safe="") for v in values))
    raise FhirError(Problem.REQUIRED, "requestType=STUDY needs studyUID or accessionNumber", ["studyUID"])


def _studies_of_patient(store: SecuredStore, patient_id: str) -> list[JsonObject]:
    patients: set[str] = set()
    if not store.may("read", "Patient") or store.read("Patient", patient_id) is not None:
        # A token for images only (e.g. a SMART Health Link's) cannot look the Patient up: the ImagingStudy
        # search below still applies its access.
        patients.add(patient_id)
    if store.may("search", "Patient"):
        patients |= set(store.find_ids("Patient", "identifier=" + quote(patient_id, safe="")))
    if not patients:
        return []
    references = ",".join(f"Patient/{p}" for p in sorted(patients))
    return _search(store, f"subject={quote(references, safe='/,')}")


def _search(store: SecuredStore, query_string: str) -> list[JsonObject]:
    studies = []
    for study_id in store.find_ids(STUDY, query_string):
        version = store.read(STUDY, study_id)
        if version is not None and version.resource is not None:
            studies.append(version.resource)
    return studies


def _newest_first(studies: list[JsonObject]) -> list[JsonObject]:
    return sorted(studies, key=lambda s: str(s.get("started") or ""), reverse=True)


def _required(query: Mapping[str, str], name: str) -> str:
    value = (query.get(name) or "").strip()
    if not value:
        raise FhirError(Problem.REQUIRED, f"{name} is required", [name])
    return value


def _values(query: Mapping[str, str], name: str) -> list[str]:
    values = [v.strip() for v in _required(query, name).split(",") if v.strip()]
    if len(values) > _MAX_VALUES:
        raise FhirError(Problem.INVALID, f"{name}: at most {_MAX_VALUES} values", [name])
    return values


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
