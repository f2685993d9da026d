"""`fhir-server upload` to a PACS that refuses our credentials: a non-zero exit, a message that says why,
and no progress bar claiming the upload completed. A data dir of its own (no server running: the CLI starts
its own database), so the shared federation gains no failing hospital; the PACS is the federation's real
North Orthanc."""

from __future__ import annotations

from pathlib import Path

from tests.fhir_server.dicomweb.dicom_samples import SampleSeries, make_study, write_files
from tests.fhir_server.dicomweb.federation_setup import INGRID_AT_SOUTH, Federation
from tests.fhir_server.dicomweb.orthanc_process import USER
from tests.server_process import run_cli


def test_upload_refused_by_orthanc_exits_non_zero_without_a_completed_bar(
    federation: Federation, tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "data")
    added = run_cli(
        "hospital",
        "add",
        "--name",
        "Wrong Password Hospital",
        "--identifier",
        "HOS-WRONG",
        "--orthanc-url",
        federation.north.orthanc.url,
        "--orthanc-user",
        USER,
        "--orthanc-password",
        "not-the-password",
        "--offline",
        "--data-dir",
        data_dir,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    study = make_study(
        INGRID_AT_SOUTH,
        [SampleSeries("CT_small.dcm", 1, instances=2)],
        description="refused",
        accession="ACC-REFUSED",
    )
    files = write_files(study, tmp_path / "upload")
    result = run_cli("upload", "--hospital", "HOS-WRONG", *map(str, files), "--data-dir", data_dir)
    assert result.returncode != 0
    assert "refused our credentials (HTTP 401)" in result.stderr, result.stderr
    assert "100%" not in result.stderr, result.stderr
    assert "instances stored" not in result.stdout
