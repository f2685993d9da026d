"""Server configuration from `FHIR_`-prefixed environment variables (documented in README.md).

Nonsense values fail at start-up with a message naming the variable, never later at request time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from terminology.systems import DEFAULT_NATIONAL_ID_SYSTEM


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
    # Search: intermediate results of chains/_has and included resources are capped, never truncated silently.
    max_chain_results: int = Field(
        1000, ge=1, le=100_000, description="Cap on the ids one chain or _has step may yield (else 400)."
    )
    max_include: int = Field(
        1000, ge=1, le=100_000, description="Cap on _include/_revinclude resources per page."
    )
    # Search input: each value becomes database work, which the size of a request (a POST _search body may
    # hold 10 MB) must not decide alone; more is a 400 naming the parameter.
    max_or_values: int = Field(
        100, ge=1, le=10_000, description="Cap on the comma-separated values of one search parameter."
    )
    max_search_parameters: int = Field(
        100, ge=1, le=10_000, description="Cap on the parameters (repeats included) of one search."
    )
    max_bundle_entries: int = Field(
        1000, ge=1, le=100_000, description="Cap on entries per batch or transaction Bundle (else 413)."
    )
    max_conditional_delete: int = Field(
        100, ge=1, le=10_000, description="Conditional DELETE deletes at most this many matches (else 412)."
    )
    conditional_lock_seconds: float = Field(
        30.0, gt=0, le=600, description="Expiry of a conditional write's criteria lock."
    )
    # Current-version cache of each worker (fhir_server.storage.version_cache), bounded by both; 0: off.
    version_cache_entries: int = Field(
        10_000, ge=0, le=10_000_000, description="Current versions a worker keeps for reads by id; 0: off."
    )
    version_cache_bytes: int = Field(
        64 * 1024 * 1024, ge=0, le=64 * 1024**3, description="Memory bound of the version cache; 0: off."
    )
    version_cache_ttl_seconds: float = Field(
        1.0, gt=0, le=60, description="Entry lifetime when the database has no change streams (standalone)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    national_id_system: str = Field(
        DEFAULT_NATIONAL_ID_SYSTEM,
        description="Identifier system of national IDs (a URI)",
        pattern=r"^\S+:\S+$",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="json: one JSON object per line; text: one line per request; auto: text on a terminal",
    )
    # /metrics and /health/orthanc name hospitals and their PACS state: they need an admin or system token
    # unless this is set, for a private network whose monitoring cannot hold one (fhir_server.observability).
    public_ops_endpoints: bool = Field(
        False, description="Serve /metrics and /health/orthanc without a token (private networks only)."
    )
    # SMART on FHIR (fhir_server.auth). "smart": every /fhir and /dicomweb request needs an access token.
    # "development": requests without a token get full anonymous access (announced loudly at start-up).
    auth_mode: Literal["smart", "development"] = Field("smart", description="smart or development")
    access_token_seconds: int = Field(
        3600, ge=60, le=3600, description="Lifetime of access tokens issued to apps (SMART: at most an hour)."
    )
    refresh_token_days: int = Field(30, ge=1, le=365, description="Lifetime of offline_access refresh tokens")
    token_cache_size: int = Field(
        10_000,
        ge=0,
        le=1_000_000,
        description="Verified access tokens a worker keeps (LRU) until they expire; 0: verify every request.",
    )
    # DICOMweb federation (fhir_server.dicomweb): every Orthanc call is bounded by these timeouts.
    orthanc_connect_timeout_seconds: float = Field(
        5.0, gt=0, le=120, description="How long to wait for a hospital's Orthanc to accept a connection."
    )
    orthanc_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="Longest wait for more data from an Orthanc (then 503 / sync fails)."
    )
    dicomweb_sync_interval_seconds: float = Field(
        60.0, ge=0, le=86_400, description="Period of the background Orthanc sync inside the server; 0 = off."
    )
    # A PACS that keeps failing is retried ever later (interval x 2^failures), never later than this.
    dicomweb_sync_max_backoff_seconds: float = Field(
        1800.0, gt=0, le=86_400, description="Longest wait between background syncs of a failing PACS."
    )
    dicom_timezone: str | None = Field(
        None, description="IANA zone of modality clocks, for DICOM times without UTC offset (0008,0201)."
    )

    # SMART Health Links (fhir_server.shl).
    shl_viewer_url: str | None = Field(
        None, description="Viewer URL put before `#shlink:/…`; unset: this server's /shl/viewer."
    )
    shl_passcode_attempts: int = Field(
        10, ge=1, le=1000, description="Lifetime budget of wrong passcodes per SMART Health Link."
    )
    shl_location_seconds: int = Field(
        3600, ge=1, le=3600, description="Lifetime of SHL manifest file locations (spec: at most 1 hour)."
    )
    shl_image_token_seconds: int = Field(
        900, ge=60, le=3600, description="Lifetime of the image-access token inside an SHL."
    )
    # The old app's QR endpoints (fhir_server.legacy): the links they create expire after this many days.
    legacy_qr_days: int = Field(
        90, ge=1, le=3650, description="Lifetime of the SMART Health Link an old QR endpoint creates."
    )

    # FHIR subscriptions (fhir_server.subscriptions).
    subscription_allowed_hosts: str = Field(
        "",
        description="Comma-separated hosts rest-hooks may reach over plain http (else https or loopback).",
    )
    subscription_max_attempts: int = Field(
        8, ge=1, le=100, description="Failed rest-hook deliveries in a row before a subscription is in error."
    )
    subscription_retry_seconds: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="First retry delay of a failed rest-hook delivery (doubled each time).",
    )

    # The bundled OHIF Viewer (fhir_server.viewer).
    viewer_dir: Path | None = Field(
        None, description="Where `fhir-server install-viewer` puts the viewer; unset: beside the package."
    )

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

    @field_validator("shl_viewer_url")
    @classmethod
    def _viewer_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.startswith(("http://", "https://")) or "#" in value:
            raise ValueError("must be an absolute http(s) URL without a fragment")
        return value

    @field_validator("dicom_timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone name such as Africa/Nairobi") from None
        return value.strip()

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
