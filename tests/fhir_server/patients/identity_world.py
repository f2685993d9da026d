"""The world of the identity tests: a secured FHIR server in this process and two real Orthancs, one per
identity rule:

- East stores the national ID itself as PatientID (`nationalIdSource: patient-id`);
- West has its own PatientIDs and the national ID in Other Patient IDs under the issuer text "NIDA"
  (`nationalIdSource: issuer`, the default).

The helpers of the DICOMweb tests (real Orthanc processes, the in-process server, DICOM samples) are shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from terminology.systems import DEFAULT_NATIONAL_ID_SYSTEM
from tests.fhir_server.dicomweb.dicom_samples import SamplePatient, SampleSeries, make_study, to_bytes
from tests.fhir_server.dicomweb.inprocess_server import InProcessServer
from tests.fhir_server.dicomweb.orthanc_process import PASSWORD, USER, OrthancServer

NATIONAL = DEFAULT_NATIONAL_ID_SYSTEM
WEST_NATIONAL_ISSUER = "NIDA"
# What the tests act as: an administrator whose token also reads and writes FHIR data, as the dashboard's
# admin users have (`user/*.cruds admin`); minted for a backend service here.
ADMIN_WITH_DATA = "admin system/*.cruds"


@dataclass
class Hospital:
    identifier: str
    orthanc: OrthancServer
    organization_id: str
    wado_endpoint_id: str


@dataclass
class World:
    server: InProcessServer
    east: Hospital
    west: Hospital
    _counter: list[int] = field(default_factory=lambda: [0])

    def client(self, scope: str = ADMIN_WITH_DATA, *, patient: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.base_url,
            timeout=30,
            headers={**self.server.bearer(scope, patient=patient), "Accept": "application/fhir+json"},
        )

    def store_study(self, hospital: Hospital, patient: SamplePatient, description: str) -> str:
        """A one-instance CT study stored in the hospital's Orthanc as a modality would; its Study UID."""
        self._counter[0] += 1
        study = make_study(
            patient,
            [SampleSeries("CT_small.dcm", 1)],
            description=description,
            accession=f"ACC-{hospital.identifier}-{self._counter[0]}",
        )
        for dataset in study:
            hospital.orthanc.store(to_bytes(dataset))
        return str(study[0].StudyInstanceUID)

    def sync(self, *hospitals: Hospital) -> str:
        arguments = [a for h in hospitals for a in ("--hospital", h.identifier)]
        done = self.server.cli("sync", *arguments)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def create_patient(self, family: str, given: str, birth: str, gender: str, national: str | None) -> str:
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "name": [{"family": family, "given": [given]}],
            "gender": gender,
            "birthDate": birth,
        }
        if national is not None:
            patient["identifier"] = [{"system": NATIONAL, "value": national}]
        with self.client() as client:
            response = client.post(
                "/fhir/Patient", json=patient, headers={"Content-Type": "application/fhir+json"}
            )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def register(
    server: InProcessServer,
    orthanc: OrthancServer,
    identifier: str,
    name: str,
    national_id_source: str,
    issuers: list[str],
) -> Hospital:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        response = client.post(
            "/admin/hospitals",
            json={
                "name": name,
                "identifier": identifier,
                "orthancUrl": orthanc.url,
                "orthancUser": USER,
                "orthancPassword": PASSWORD,
                "nationalIdIssuers": issuers,
                "nationalIdSource": national_id_source,
            },
            headers=server.admin_headers(),
        )
    assert response.status_code == 201, response.text
    body = response.json()
    wado = body["endpoints"][0].removeprefix("Endpoint/")
    return Hospital(identifier, orthanc, body["organization"].removeprefix("Organization/"), wado)
