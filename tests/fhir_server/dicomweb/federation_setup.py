"""The two-hospital federation the DICOMweb tests share, built once per session:

Patient Ingrid created through the FHIR API (national ID only) -> North registered by the CLI, South by the
admin API -> North's studies stored in its Orthanc as a modality would (REST) -> South's study uploaded with
`fhir-server upload` (STOW-RS + immediate sync) -> `fhir-server sync` of both.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydicom import Dataset

from fhir_server.dicomweb import ids
from terminology.systems import DEFAULT_NATIONAL_ID_SYSTEM
from tests.fhir_server.dicomweb.dicom_samples import (
    SamplePatient,
    SampleSeries,
    make_study,
    to_bytes,
    write_files,
)
from tests.fhir_server.dicomweb.inprocess_server import InProcessServer
from tests.fhir_server.dicomweb.orthanc_process import PASSWORD, USER, OrthancServer

INGRID_NATIONAL_ID = "19850312-1234"
SOUTH_NATIONAL_ISSUER = "NATIONAL"  # South's RIS writes this text instead of the national-ID system URI

INGRID_AT_NORTH = SamplePatient(
    "N-100", "Hansen^Ingrid", "19850312", "F", INGRID_NATIONAL_ID, DEFAULT_NATIONAL_ID_SYSTEM
)
LARS_AT_NORTH = SamplePatient("N-200", "Olsen^Lars^Erik", "19720101", "M")
INGRID_AT_SOUTH = SamplePatient(
    "S-900", "HANSEN^INGRID", "19850312", "F", INGRID_NATIONAL_ID, SOUTH_NATIONAL_ISSUER
)


@dataclass
class Hospital:
    identifier: str
    orthanc: OrthancServer
    organization_id: str
    wado_endpoint_id: str
    qido_endpoint_id: str

    def study_id(self, study: list[Dataset]) -> str:
        return ids.study_id(self.wado_endpoint_id, str(study[0].StudyInstanceUID))


@dataclass
class Federation:
    server: InProcessServer
    north: Hospital
    south: Hospital
    ingrid: str  # Patient id, created through the FHIR API before any sync
    north_ct: list[Dataset]  # Ingrid at North
    north_mr: list[Dataset]  # Lars at North (no national ID: his Patient is created by the sync)
    south_study: list[Dataset]  # Ingrid at South: MR series of 2 instances + CT series of 1
    upload: subprocess.CompletedProcess[str]
    first_sync: subprocess.CompletedProcess[str]

    def client(self, **headers: str) -> httpx.Client:
        """A client of the server acting as a backend service (`system/*.cruds`) unless `headers` say
        otherwise (e.g. another Authorization)."""
        return httpx.Client(
            base_url=self.server.base_url, timeout=30, headers={**self.server.bearer(), **headers}
        )

    def sync(self) -> subprocess.CompletedProcess[str]:
        return self.server.cli(
            "sync", "--hospital", self.north.identifier, "--hospital", self.south.identifier
        )


def build_federation(
    fhir_server: InProcessServer, orthanc_factory: type[OrthancServer], root: Path
) -> Federation:
    north_orthanc = orthanc_factory("NORTH", root / "north").start()
    south_orthanc = orthanc_factory("SOUTH", root / "south").start()
    with httpx.Client(base_url=fhir_server.base_url, timeout=30, headers=fhir_server.bearer()) as client:
        ingrid = _create_ingrid(client)
        north = _register_by_cli(fhir_server, client, north_orthanc)
        south = _register_by_api(client, south_orthanc, fhir_server.admin_headers())
    north_ct = make_study(
        INGRID_AT_NORTH,
        [SampleSeries("CT_small.dcm", 1, description="Chest 5 mm")],
        description="CT chest",
        accession="ACC-N-1",
    )
    north_mr = make_study(
        LARS_AT_NORTH,
        [SampleSeries("MR_small.dcm", 3)],
        description="MR knee",
        accession="ACC-N-2",
        started=("20230601", "080000", "+0000"),
    )
    for dataset in [*north_ct, *north_mr]:
        north_orthanc.store(to_bytes(dataset))
    south_study = make_study(
        INGRID_AT_SOUTH,
        [SampleSeries("MR_small.dcm", 1, instances=2, description="T1"), SampleSeries("CT_small.dcm", 2)],
        description="MR and CT",
        accession="ACC-S-1",
        started=("20240302", "080500", "+0100"),
    )
    files = write_files(south_study, root / "upload")
    upload = fhir_server.cli("upload", "--hospital", south.identifier, *map(str, files))
    assert upload.returncode == 0, upload.stdout + upload.stderr
    first_sync = fhir_server.cli("sync", "--hospital", north.identifier, "--hospital", south.identifier)
    assert first_sync.returncode == 0, first_sync.stdout + first_sync.stderr
    return Federation(fhir_server, north, south, ingrid, north_ct, north_mr, south_study, upload, first_sync)


def _create_ingrid(client: httpx.Client) -> str:
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": DEFAULT_NATIONAL_ID_SYSTEM, "value": INGRID_NATIONAL_ID}],
        "name": [{"family": "Hansen", "given": ["Ingrid"]}],
        "gender": "female",
        "birthDate": "1985-03-12",
    }
    response = client.post("/fhir/Patient", json=patient, headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _register_by_cli(server: InProcessServer, client: httpx.Client, orthanc: OrthancServer) -> Hospital:
    identifier = "HOS-N01"
    added = server.cli(
        "hospital",
        "add",
        "--name",
        "North Hospital",
        "--identifier",
        identifier,
        "--orthanc-url",
        orthanc.url,
        "--orthanc-user",
        USER,
        "--orthanc-password",
        PASSWORD,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    organization_id = added.stdout.strip().splitlines()[-1]
    organization = client.get(f"/fhir/Organization/{organization_id}").json()
    endpoints = [client.get(f"/fhir/{e['reference']}").json() for e in organization["endpoint"]]
    by_type = {e["connectionType"]["code"]: e["id"] for e in endpoints}
    return Hospital(identifier, orthanc, organization_id, by_type["dicom-wado-rs"], by_type["dicom-qido-rs"])


def _register_by_api(client: httpx.Client, orthanc: OrthancServer, admin: dict[str, str]) -> Hospital:
    identifier = "HOS-S01"
    response = client.post(
        "/admin/hospitals",
        json={
            "name": "South Clinic",
            "identifier": identifier,
            # The DICOMweb root is accepted too and cut back to Orthanc's base.
            "orthancUrl": f"{orthanc.url}/dicom-web/",
            "orthancUser": USER,
            "orthancPassword": PASSWORD,
            "nationalIdIssuers": [SOUTH_NATIONAL_ISSUER],
        },
        headers=admin,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    wado, qido = (reference.removeprefix("Endpoint/") for reference in body["endpoints"])
    return Hospital(identifier, orthanc, body["organization"].removeprefix("Organization/"), wado, qido)
