"""The embedded database: child process lifecycle, data dir ownership, durability across kill -9."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx

from tests.server_process import run_cli, start_server

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_second_server_on_same_data_dir_fails_with_clear_message(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        result = run_cli("serve", "--port", "1", "--data-dir", str(tmp_path / "data"))
        assert result.returncode == 2
        assert "already in use by server" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        server.stop()


def test_acknowledged_writes_survive_kill_9_of_both_processes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    state = json.loads((data / "embedded-db.json").read_text())
    ids = []
    for n in range(20):
        r = httpx.post(
            f"{server.base_url}/Patient",
            json={"resourceType": "Patient", "name": [{"family": f"K{n}"}]},
            headers=FHIR_JSON,
        )
        assert r.status_code == 201
        ids.append(r.json()["id"])
    updated = httpx.put(
        f"{server.base_url}/Patient/{ids[0]}",
        json={"resourceType": "Patient", "id": ids[0], "gender": "other"},
        headers=FHIR_JSON,
    )
    assert updated.status_code == 200
    os.kill(state["db_pid"], signal.SIGKILL)
    server.stop(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(state["db_pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)

    restarted = start_server(data)
    try:
        for pid in ids:
            assert httpx.get(f"{restarted.base_url}/Patient/{pid}").status_code == 200
        assert httpx.get(f"{restarted.base_url}/Patient/{ids[0]}").json()["gender"] == "other"
    finally:
        restarted.stop()


def test_database_dies_with_server_killed_by_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    db_pid = json.loads((data / "embedded-db.json").read_text())["db_pid"]
    server.stop(signal.SIGKILL)
    deadline = time.monotonic() + 20
    while pid_alive(db_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(db_pid)


def test_clean_shutdown_stops_database_and_releases_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    db_pid = json.loads((data / "embedded-db.json").read_text())["db_pid"]
    server.stop(signal.SIGTERM)
    assert server.process.returncode == 0
    assert not pid_alive(db_pid)
    assert not (data / "embedded-db.json").exists()
    start_server(data).stop()  # the data dir is free again


def test_cli_attaches_to_running_server_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        result = run_cli("demo", "--data-dir", str(data), "--no-local-orthanc")
        assert result.returncode == 0, result.stderr
        assert "resources created" in result.stdout
        assert httpx.get(f"{server.base_url}/Patient/legacy-pat-901234").status_code == 200
        assert "already loaded" in run_cli("demo", "--data-dir", str(data), "--no-local-orthanc").stdout
    finally:
        server.stop()


def test_cli_without_server_starts_and_stops_its_own_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run_cli("demo", "--data-dir", str(data), "--no-local-orthanc")
    assert result.returncode == 0, result.stderr
    assert not (data / "embedded-db.json").exists()
    server = start_server(data)
    try:
        assert (
            httpx.get(f"{server.base_url}/Organization/legacy-hos-001").json()["name"] == "General Hospital"
        )
    finally:
        server.stop()


def test_nonsense_settings_fail_fast_naming_the_variable(tmp_path: Path) -> None:
    result = run_cli("serve", "--data-dir", str(tmp_path), env={"FHIR_PORT": "eighty"})
    assert result.returncode == 2
    assert "FHIR_PORT" in result.stderr
    result = run_cli("serve", "--data-dir", str(tmp_path), env={"FHIR_MONGODB_URI": "postgres://x"})
    assert result.returncode == 2
    assert "FHIR_MONGODB_URI" in result.stderr
    assert "Traceback" not in result.stderr
