"""The deploy/ files are valid without a container engine, and the server starts with their environment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import yaml

from fhir_server.settings import Settings
from tests.server_process import REPO_ROOT, start_server

DEPLOY = REPO_ROOT / "deploy"


def env_example() -> dict[str, str]:
    env = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def test_compose_file_defines_the_production_stack() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"mongo", "orthanc-north", "orthanc-south", "fhir", "proxy"} <= set(services)
    assert "--replSet" in services["mongo"]["command"]
    assert services["fhir"]["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert "--workers" in services["fhir"]["command"]
    assert any(str(p).startswith("443:") for p in services["proxy"]["ports"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and "${" not in source:
                assert (DEPLOY / source).exists(), f"{name}: {source} missing"
    dockerfile = services["fhir"]["build"]["dockerfile"]
    assert (REPO_ROOT / dockerfile).exists()


def test_dockerfile_copies_existing_paths() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.MULTILINE):
        assert (REPO_ROOT / source).exists(), source
    assert '"fhir-server", "serve"' in text


def test_env_example_names_only_real_settings_and_they_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_example()
    known = {f"FHIR_{name.upper()}" for name in Settings.model_fields} | {"FHIR_WORKERS"}
    unknown = sorted(k for k in env if k.startswith("FHIR_") and k not in known)
    assert unknown == []
    for key, value in env.items():
        if key.startswith("FHIR_"):
            monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.mongodb_uri is not None and "replicaSet=rs0" in settings.mongodb_uri


@pytest.mark.parametrize("name", ["north", "south"])
def test_orthanc_configs_enable_dicomweb_and_authentication(name: str) -> None:
    config = json.loads((DEPLOY / "orthanc" / f"{name}.json").read_text())
    assert config["DicomWeb"]["Enable"] is True
    assert config["AuthenticationEnabled"] is True
    assert config["RegisteredUsers"]
    assert config["Plugins"]


def test_nginx_terminates_tls_and_proxies_to_the_server() -> None:
    conf = (DEPLOY / "nginx" / "nginx.conf").read_text()
    assert "listen 443 ssl" in conf
    assert "ssl_certificate " in conf
    assert "proxy_pass http://fhir" in conf
    assert conf.count("{") == conf.count("}")


def test_server_starts_with_the_deploy_environment_on_the_embedded_db(tmp_path: Path) -> None:
    env = {k: v for k, v in env_example().items() if k.startswith("FHIR_") and k != "FHIR_MONGODB_URI"}
    env["FHIR_MONGODB_URI"] = ""  # the embedded database instead of the compose stack's MongoDB
    server = start_server(tmp_path / "data", env=env)
    try:
        ready = httpx.get(server.base_url.removesuffix("/fhir") + "/health/ready")
        assert ready.status_code == 200
        metadata = httpx.get(f"{server.base_url}/metadata").json()
        assert metadata["implementation"]["url"] == env["FHIR_PUBLIC_BASE_URL"]
    finally:
        server.stop()
