"""Server configuration from `FHIR_`-prefixed environment variables (documented in README.md).

Nonsense values fail at start-up with a message naming the variable, never later at request time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FHIR_", extra="ignore", validate_default=True)

    data_dir: Path = Field(Path("./data"), description="Where the embedded database and keys live.")
    mongodb_uri: str | None = Field(
        None, description="MongoDB URI; unset means: start the embedded database under data_dir."
    )
    database_name: str = Field("fhir", min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_-]+$")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_base_url: str | None = Field(
        None, description="Base URL clients see (behind a proxy), e.g. https://fhir.example.org/fhir."
    )
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    default_page_size: int = Field(20, ge=1)
    max_page_size: int = Field(1000, ge=1, le=10_000)
    db_startup_timeout_seconds: float = Field(30.0, gt=0, le=600)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = Field("json", description="json: one JSON object per line")

    @field_validator("mongodb_uri")
    @classmethod
    def _uri_scheme(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL ending in the FHIR base, e.g. https://h/fhir")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _page_sizes(self) -> Settings:
        if self.default_page_size > self.max_page_size:
            raise ValueError(
                f"FHIR_DEFAULT_PAGE_SIZE ({self.default_page_size}) exceeds "
                f"FHIR_MAX_PAGE_SIZE ({self.max_page_size})"
            )
        return self

    @property
    def uses_embedded_db(self) -> bool:
        return self.mongodb_uri is None


@lru_cache
def get_settings() -> Settings:
    return Settings()
