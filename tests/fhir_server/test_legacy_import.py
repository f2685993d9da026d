"""`import-legacy` of the old app's database, checked row by row against the source tables."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from server_process import REPO_ROOT, RunningServer, start_server

LEGACY_DB = REPO_ROOT.parent / "shared" / "data" / "legacy-federation.db"


def run_import(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "fhir_server",
            "import-legacy",
            str(LEGACY_DB),
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )


def source(query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{LEGACY_DB}?mode=ro", uri=True) as db:
        return list(db.execute(query))


def fhir_id(legacy_id: str) -> str:
    return "legacy-" + legacy_id.lower()


@pytest.fixture(scope="module")
def imported(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str], dict[str, object]]:
    data = tmp_path_factory.mktemp("legacy") / "data"
    result = run_import(data)
    assert result.returncode == 0, result.stderr
    report = json.loads((data / "legacy-import-report.json").read_text())
    return data, result, report


@pytest.fixture(scope="module")
def legacy_server(imported: tuple[Path, object, object]) -> RunningServer:  # type: ignore[override]
    running = start_server(imported[0])
    yield running  # type: ignore[misc]
    running.stop()


def issues_for(report: dict[str, object], table: str, row_id: str) -> list[dict[str, str]]:
    return [i for i in report["issues"] if i["table"] == table and i["row_id"] == row_id]  # type: ignore[index,union-attr]


def test_summary_is_printed_and_counts_add_up_to_source_rows(
    imported: tuple[Path, subprocess.CompletedProcess[str], dict[str, object]],
) -> None:
    _, result, report = imported
    assert "patients" in result.stdout and "rejected" in result.stdout
    summary = report["summary"]
    for table in ("hospitals", "patients", "studies"):
        rows = source(f"SELECT count(*) FROM {table}")[0][0]
        counted = sum(summary[f"{table}.{o}"] for o in ("imported", "imported_with_warnings", "rejected"))  # type: ignore[index]
        assert counted == rows


def test_every_source_row_is_imported_or_reported_as_rejected(
    imported: tuple[Path, object, dict[str, object]], legacy_server: RunningServer
) -> None:
    _, _, report = imported
    with httpx.Client(base_url=legacy_server.base_url) as client:
        patients = {row[0] for row in source("SELECT id FROM patients")}
        for (hospital_id,) in source("SELECT id FROM hospitals"):
            assert client.get(f"/Organization/{fhir_id(str(hospital_id))}").status_code == 200
        for (patient_id,) in source("SELECT id FROM patients"):
            assert client.get(f"/Patient/{fhir_id(str(patient_id))}").status_code == 200
        for study_id, patient_id in source("SELECT id, patient_id FROM studies"):
            rejected = [
                i for i in issues_for(report, "studies", str(study_id)) if i["severity"] == "rejected"
            ]
            status = client.get(f"/ImagingStudy/{fhir_id(str(study_id))}").status_code
            if patient_id in patients:
                assert status == 200 and not rejected, study_id
            else:  # a dangling patient: no subject possible, so the row is rejected with a reason
                assert status == 404 and rejected and rejected[0]["field"] == "patient_id", study_id


def test_report_warns_row_by_row_about_messy_values(imported: tuple[Path, object, dict[str, object]]) -> None:
    _, _, report = imported
    for patient_id, gender in source("SELECT id, gender FROM patients"):
        fields = {i["field"] for i in issues_for(report, "patients", str(patient_id))}
        assert ("gender" in fields) == (gender in (None, "")), patient_id
    hospitals = {row[0] for row in source("SELECT id FROM hospitals")}
    for study_id, hospital_id, modality in source("SELECT id, hospital_id, modality FROM studies"):
        fields = {i["field"] for i in issues_for(report, "studies", str(study_id))}
        assert ("hospital_id" in fields) == (hospital_id not in hospitals), study_id
        assert ("modality" in fields) == (modality in ("", None, "Other")), (study_id, modality)
    csv_lines = (imported[0] / "legacy-import-report.csv").read_text().splitlines()
    assert csv_lines[0] == "table,row_id,severity,field,reason"
    assert len(csv_lines) == len(report["issues"]) + 1  # type: ignore[arg-type]


def test_imported_study_keeps_legacy_id_and_maps_modality(legacy_server: RunningServer) -> None:
    study = httpx.get(f"{legacy_server.base_url}/ImagingStudy/{fhir_id('STU-20240115103000')}").json()
    assert {"system": study["identifier"][0]["system"], "value": "STU-20240115103000"} == {
        "system": study["identifier"][0]["system"],
        "value": study["identifier"][0]["value"],
    }
    assert study["subject"]["reference"] == f"Patient/{fhir_id('PAT-901234')}"
    assert study["modality"][0]["code"] == "DX"  # legacy "XR"


def test_second_import_changes_nothing(
    imported: tuple[Path, object, object], legacy_server: RunningServer
) -> None:
    before = httpx.get(f"{legacy_server.base_url}/_history", params={"_count": 0}).json()["total"]
    again = run_import(imported[0])
    assert again.returncode == 0, again.stderr
    assert "created 0, updated 0" in again.stdout
    assert httpx.get(f"{legacy_server.base_url}/_history", params={"_count": 0}).json()["total"] == before


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = run_import(tmp_path / "data", "--dry-run", "--report", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr
    assert "dry run" in result.stdout
    assert (tmp_path / "report.json").exists()
    assert not (tmp_path / "data" / "db").exists()


def test_not_a_legacy_database_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_text("not sqlite")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fhir_server",
            "import-legacy",
            str(bogus),
            "--data-dir",
            str(tmp_path / "d"),
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert "not a database of the old app" in result.stderr
