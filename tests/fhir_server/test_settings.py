"""Settings: environment variables with the FHIR_ prefix, validated at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fhir_server.settings import Settings


def test_defaults() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.port == 8080
    assert settings.uses_embedded_db


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIR_MONGODB_URI", "mongodb://db.example:27017/?replicaSet=rs0")
    monkeypatch.setenv("FHIR_MAX_PAGE_SIZE", "50")
    monkeypatch.setenv("FHIR_DEFAULT_PAGE_SIZE", "10")
    settings = Settings()
    assert not settings.uses_embedded_db
    assert settings.max_page_size == 50


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FHIR_PORT", "0"),
        ("FHIR_PORT", "70000"),
        ("FHIR_MONGODB_URI", "http://localhost"),
        ("FHIR_MAX_BODY_BYTES", "10"),
        ("FHIR_PUBLIC_BASE_URL", "ftp://x"),
        ("FHIR_LOG_LEVEL", "loud"),
        ("FHIR_DATABASE_NAME", "a.b"),
    ],
)
def test_nonsense_values_fail_fast(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_default_page_size_cannot_exceed_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIR_DEFAULT_PAGE_SIZE", "500")
    monkeypatch.setenv("FHIR_MAX_PAGE_SIZE", "100")
    with pytest.raises(ValidationError, match="FHIR_DEFAULT_PAGE_SIZE"):
        Settings()
