"""A hospital's Orthanc as a DICOMweb service (dicomweb-client): QIDO-RS, WADO-RS metadata and STOW-RS.

DICOM JSON (PS3.18 F.2) is what the ImagingStudy mapper reads, so the sync asks DICOMweb rather than
Orthanc's REST summaries. Retries are off: a failed call fails the sync pass, which resumes from its cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests
from dicomweb_client.api import DICOMwebClient
from pydicom import Dataset

from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.orthanc.errors import translated
from fhir_server.settings import Settings

DicomJson = dict[str, Any]


class OrthancDicomweb:
    def __init__(self, hospital: HospitalConnection, settings: Settings) -> None:
        self._hospital = hospital
        self._read_timeout = settings.orthanc_timeout_seconds
        session = requests.Session()
        session.auth = hospital.auth
        self._session = session
        self._client = DICOMwebClient(
            hospital.dicomweb_url,
            session=session,
            timeout=(settings.orthanc_connect_timeout_seconds, settings.orthanc_timeout_seconds),
        )
        self._client.set_http_retry_params(retry=False)

    def __enter__(self) -> OrthancDicomweb:
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.close()

    def study(self, study_uid: str) -> DicomJson | None:
        """The QIDO-RS study result (with NumberOfStudyRelatedSeries/Instances), None if absent."""
        with translated(self._hospital.name, self._read_timeout):
            found = self._client.search_for_studies(search_filters={"StudyInstanceUID": study_uid})
        return found[0] if found else None

    def series(self, study_uid: str) -> list[DicomJson]:
        with translated(self._hospital.name, self._read_timeout):
            return list(self._client.search_for_series(study_uid, get_remaining=True))

    def metadata(self, study_uid: str) -> list[DicomJson]:
        """WADO-RS metadata of every instance of the study (no bulk data)."""
        with translated(self._hospital.name, self._read_timeout):
            return list(self._client.retrieve_study_metadata(study_uid))

    def store(self, datasets: Sequence[Dataset]) -> Dataset:
        """STOW-RS; returns the store response (FailedSOPSequence lists what Orthanc refused)."""
        with translated(self._hospital.name, self._read_timeout):
            return self._client.store_instances(datasets)
