"""Start-up as a person meets it: a busy port fails at once (before any data is loaded) and says how to
choose another; a server that started ends its output with where to go; `/` leads to the dashboard."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx

from tests.server_process import REPO_ROOT, RunningServer, run_cli


def test_a_busy_port_fails_at_once_naming_the_port_and_the_way_out(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data_dir = tmp_path / "data"
        # --demo would start Orthancs and upload studies: none of it may happen before the port is checked.
        result = run_cli("serve", "--demo", "--port", str(port), "--data-dir", str(data_dir), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"127.0.0.1:{port}" in result.stderr
    assert "already in use" in result.stderr
    assert "--port" in result.stderr and "FHIR_PORT" in result.stderr
    assert not data_dir.exists()  # no database started, nothing loaded


def test_the_last_start_up_lines_say_where_to_go(server: RunningServer) -> None:
    origin = server.base_url.removesuffix("/fhir")
    lines = [line.strip() for line in server.log_path.read_text().splitlines()]
    start = lines.index("The server is ready (Ctrl+C stops it).")
    ready = lines[start + 1 : start + 6]
    assert f"API documentation: {origin}/docs" in ready
    assert f"Dashboard:         {origin}/app/" in ready
    assert f"FHIR base:         {server.base_url}" in ready
    assert any(line.startswith("Sign in") for line in ready)
    # Nothing but request logs after them: the start-up's own messages came before.
    for later in lines[start + 6 :]:
        assert '"fhir_server.access"' in later or "fhir_server.access" in later or not later, later


def test_the_root_leads_to_the_dashboard(server: RunningServer) -> None:
    origin = server.base_url.removesuffix("/fhir")
    response = httpx.get(f"{origin}/", follow_redirects=False)
    assert response.status_code in (307, 308)
    assert response.headers["location"] == "/app/"
    page = httpx.get(f"{origin}/", follow_redirects=True)
    assert page.status_code == 200 and "Imaging Federation" in page.text


def test_run_sh_checks_the_port_before_installing_anything() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            ["bash", "scripts/run.sh", "--port", str(port)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "FHIR_PORT=" in result.stderr
    assert result.stdout == ""  # bootstrap (pip, apt) never ran
