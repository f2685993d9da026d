"""`import-legacy` of the old app's database, checked row by row against the source tables."""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.binding_checks import binding_checker
from fhir_server.interactions.common import WriteRules
from fhir_server.legacy import importer as legacy_import
from fhir_server.storage.bulk_load import CurrentVersion, ImportCounts, PreparedImport
from mappers.legacy import iter_legacy_database, map_legacy_database, new_legacy_import
from mappers.legacy_modality import modality_lookup_from_terminology
from terminology.local import LocalTerminology
from tests.server_process import REPO_ROOT, RunningServer, start_server

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


def test_hospitals_without_an_address_get_the_placeholder_endpoint(legacy_server: RunningServer) -> None:
    for (hospital_id,) in source("SELECT id FROM hospitals"):
        endpoint = httpx.get(f"{legacy_server.base_url}/Endpoint/{fhir_id(str(hospital_id))}-dicomweb").json()
        assert (endpoint["address"], endpoint["status"]) == ("urn:legacy:unknown-dicomweb", "off")


def test_dry_run_over_imported_data_would_change_nothing(
    imported: tuple[Path, object, object], tmp_path: Path
) -> None:
    # Compared with the stored data: the import's own resources are replaced by the mapping, i.e. unchanged.
    result = run_import(imported[0], "--dry-run", "--report", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr
    assert "would create 0, update 0, leave 214 unchanged" in result.stdout
    assert "stored data would win" not in result.stdout  # nothing there was written by a sync
    assert json.loads((tmp_path / "report.json").read_text())["dry_run"] is True


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = run_import(tmp_path / "data", "--dry-run", "--report", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr
    assert "dry run, nothing written: would create 214, update 0, leave 0 unchanged" in result.stdout
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


# --- the write pipeline ----------------------------------------------------------------------------------


def _rules() -> WriteRules:
    return WriteRules(checkers=(binding_checker(LocalTerminology()),))


def test_streamed_mapping_is_the_whole_mapping() -> None:
    rows = legacy_import.read_rows(LEGACY_DB)
    lookup = modality_lookup_from_terminology(LocalTerminology())
    whole = map_legacy_database(rows, modality_to_dcm=lookup)
    streamed = new_legacy_import()
    resources = list(iter_legacy_database(rows, streamed, modality_to_dcm=lookup))
    assert resources == whole.resources
    assert streamed.issues == whole.issues and streamed.summary() == whole.summary()


class _RecordingRepository:
    """Stands in for BulkLoader: prepares like it, records writes, can fail the n-th write."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.written: list[PreparedImport] = []
        self.fail_at = fail_at

    def current_versions(self, resource_type: str, id_prefix: str) -> dict[str, CurrentVersion]:
        return {}

    def prepare_import(
        self, resources: list[dict[str, Any]], known: dict[str, CurrentVersion]
    ) -> PreparedImport:
        return PreparedImport(
            resources[0]["resourceType"], list(resources), [], ImportCounts(created=len(resources))
        )

    def write_import(self, prepared: PreparedImport) -> None:
        if self.fail_at is not None and len(self.written) == self.fail_at:
            raise RuntimeError("database gone")
        self.written.append(prepared)


def test_pipeline_writes_every_batch_in_order_and_reports_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(legacy_import, "BATCH_SIZE", 7)
    repository = _RecordingRepository()
    calls: list[tuple[int, int]] = []
    result = legacy_import.import_legacy(
        LEGACY_DB,
        repository,  # type: ignore[arg-type]
        LocalTerminology(),
        _rules(),
        national_id_system="urn:national",
        progress=lambda done, total: calls.append((done, total)),
    )
    dry = legacy_import.import_legacy(
        LEGACY_DB, None, LocalTerminology(), _rules(), national_id_system="urn:national"
    )
    written = [r for batch in repository.written for r in batch.docs]
    assert [(r["resourceType"], r["id"]) for r in written] == [
        (r["resourceType"], r["id"])
        for r in map_legacy_database(
            legacy_import.read_rows(LEGACY_DB),
            modality_to_dcm=modality_lookup_from_terminology(LocalTerminology()),
            national_id_system="urn:national",
        ).resources
    ]
    assert all(len({r["resourceType"] for r in b.docs}) == 1 and len(b.docs) <= 7 for b in repository.written)
    assert result.resources == len(written) == dry.resources and result.counts.created == len(written)
    assert result.summary == dry.summary and result.issues == dry.issues
    assert calls[-1][0] == calls[-1][1] == len(written)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_a_failed_write_stops_the_import_and_its_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(legacy_import, "BATCH_SIZE", 5)
    repository = _RecordingRepository(fail_at=3)
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="database gone"):
        legacy_import.import_legacy(
            LEGACY_DB,
            repository,
            LocalTerminology(),
            _rules(),
            national_id_system="urn:national",  # type: ignore[arg-type]
        )
    assert len(repository.written) == 3
    assert threading.active_count() == before  # the producer thread has ended


def test_a_failure_while_preparing_is_raised_to_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    repository = _RecordingRepository()

    def broken(resources: list[dict[str, Any]], known: dict[str, CurrentVersion]) -> PreparedImport:
        raise ValueError("cannot index")

    monkeypatch.setattr(repository, "prepare_import", broken)
    with pytest.raises(ValueError, match="cannot index"):
        legacy_import.import_legacy(
            LEGACY_DB,
            repository,
            LocalTerminology(),
            _rules(),
            national_id_system="urn:national",  # type: ignore[arg-type]
        )
    assert repository.written == []


# --- kill -9 in the middle of an import ------------------------------------------------------------------


def _generated_database(path: Path, studies: int, patients: int) -> None:
    spec = importlib.util.spec_from_file_location("import_bench", REPO_ROOT / "bench" / "import_bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.generate(path, studies, patients)


def test_an_import_killed_midway_resumes_and_leaves_correct_search_results(tmp_path: Path) -> None:
    source, data = tmp_path / "federation.db", tmp_path / "data"
    _generated_database(source, studies=4000, patients=1000)
    total = 2 * 3 + 1000 + 4000
    process = subprocess.Popen(
        [sys.executable, "-m", "fhir_server", "import-legacy", str(source), "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert process.stderr is not None
    progress = b""
    while (chunk := process.stderr.read(1)) and not re.search(rb"\] [2-4]\d{3}/", progress[-12:]):
        progress += chunk  # wait until some studies are written (after 3 + 3 + 1000 others)
    process.kill()
    process.wait()
    done_before = int(re.findall(rb"\] (\d+)/", progress)[-1])
    assert 0 < done_before < total

    again = subprocess.run(
        [sys.executable, "-m", "fhir_server", "import-legacy", str(source), "--data-dir", str(data)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    counts = re.search(r"created (\d+), updated (\d+), unchanged (\d+)", again.stdout)
    assert counts is not None
    created, updated, unchanged = map(int, counts.groups())
    assert updated == 0 and unchanged >= done_before and created + unchanged == total

    running = start_server(data)
    try:
        with httpx.Client(base_url=running.base_url, timeout=60) as client:
            # One version per resource: nothing was written twice (besides the import, the server's own
            # Endpoint of its image viewer, written once at start-up).
            assert client.get("/_history", params={"_count": 0}).json()["total"] == total + 1
            for resource_type, count in (("Patient", 1000), ("ImagingStudy", 4000), ("Endpoint", 3 + 1)):
                found = client.get(f"/{resource_type}", params={"_count": 0}).json()["total"]
                assert found == count, resource_type
            study = client.get("/ImagingStudy", params={"identifier": "STU-000003999"}).json()
            assert [e["resource"]["id"] for e in study["entry"]] == ["legacy-stu-000003999"]
            patient_ref = study["entry"][0]["resource"]["subject"]["reference"]
            by_patient = client.get("/ImagingStudy", params={"patient": patient_ref, "_count": 1000}).json()
            assert "legacy-stu-000003999" in {e["resource"]["id"] for e in by_patient["entry"]}
    finally:
        running.stop()


# --- the embedded-database floor benchmark keeps working ---------------------------------------------------


def test_embedded_db_floor_bench_reports_every_layout_and_indexes_cost_cpu() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "embedded_db_floor.py"), "--docs", "300"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    cpu = {
        m["layout"].strip(): float(m["ms"])
        for m in re.finditer(
            r"^(?P<layout>[^\d\n]+?)\s+[\d,]+ documents/s\s+database CPU (?P<ms>[\d.]+)", done.stdout, re.M
        )
    }
    assert set(cpu) == {"_id only", "version indexes", "search index only", "as stored (all indexes)"}, (
        done.stdout
    )
    assert cpu["as stored (all indexes)"] > cpu["_id only"], done.stdout
