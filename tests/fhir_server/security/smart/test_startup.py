"""The start-up security hints name the command exactly as this server was started, so they can be pasted."""

from __future__ import annotations

import sys

import pytest

from fhir_server.security.startup import announce, cli_command
from fhir_server.settings import Settings


def test_hint_uses_the_console_script_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/srv/app/.venv/bin/fhir-server", "serve"])
    assert cli_command() == "/srv/app/.venv/bin/fhir-server"


def test_hint_under_python_m_names_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/repo/fhir_server/__main__.py", "serve"])
    assert cli_command() == f"{sys.executable} -m fhir_server"


def test_smart_announcement_prints_a_pasteable_token_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["/opt/my venv/bin/fhir-server", "serve"])
    announce(Settings(data_dir="/tmp/d", auth_mode="smart"), "http://127.0.0.1:8080/fhir")  # type: ignore[arg-type]
    assert "'/opt/my venv/bin/fhir-server' token --data-dir /tmp/d" in capsys.readouterr().err
