"""The URLs clients see: our DICOMweb proxy, never a hospital's Orthanc.

Endpoint.address is "the technical base address for connecting to this endpoint"
(https://hl7.org/fhir/R4/endpoint-definitions.html#Endpoint.address); a viewer appends
`/studies/{StudyInstanceUID}` to it, so it is the proxy base of that Endpoint.

The base is the server's own (fhir_server.security.server_base.fhir_base: FHIR_PUBLIC_BASE_URL, else the bind
address). A CLI command that writes Endpoints (`hospital add|update`, `demo`) or checks them (`doctor`) runs
in another process with its own Settings, which need not know the port the server listens on: the running
server therefore records its base in the data dir (`server.json`, as the embedded database records its
address in `embedded-db.json`), and those commands use it when FHIR_PUBLIC_BASE_URL is not set. At start-up
a server whose base changed rewrites the addresses of registered hospitals' Endpoints that still carry an
old base (`rewrite_endpoint_addresses`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fhir_server.security.server_base import fhir_base
from fhir_server.settings import Settings

log = logging.getLogger(__name__)

PROXY_PREFIX = "/dicomweb"
SERVER_FILE = "server.json"


def server_base(settings: Settings) -> str:
    """Scheme, host and port (and path prefix) clients use: the server's FHIR base without `/fhir`."""
    return fhir_base(settings).removesuffix("/fhir").rstrip("/")


def endpoint_address(settings: Settings, endpoint_id: str) -> str:
    """Endpoint.address, and the base of every URL the proxy writes into responses.

    From settings only, never from a request's Host header: the CLI, the admin API and the proxy must all
    produce the same URL, or a viewer would be sent from the address it was given to another one.
    """
    return f"{server_base(settings)}{PROXY_PREFIX}/{endpoint_id}"


def is_proxy_address(address: object, endpoint_id: str) -> bool:
    """Whether `address` is this server's proxy path of that Endpoint, under whatever base (an old port, an
    old public URL): a hospital's Orthanc is never addressed like that (its DICOMweb root is /dicom-web)."""
    return isinstance(address, str) and address.rstrip("/").endswith(f"{PROXY_PREFIX}/{endpoint_id}")


# -- the running server's base, for CLI commands -------------------------------------------------------------


def record_server_base(settings: Settings) -> None:
    """Called by the server at start-up. Not secret (the URL is public), but written atomically so that a
    command reading it never sees half a file."""
    path = settings.data_dir.resolve() / SERVER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "fhirBase": fhir_base(settings),
        "pid": os.getpid(),
        "startedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tmp = path.with_name(f"{SERVER_FILE}.{os.getpid()}.tmp")  # several workers may start at once
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def recorded_fhir_base(data_dir: Path) -> str | None:
    """The FHIR base the last server on this data dir recorded, if any."""
    with contextlib.suppress(OSError, ValueError):
        state: Any = json.loads((data_dir.resolve() / SERVER_FILE).read_text())
        base = state.get("fhirBase") if isinstance(state, dict) else None
        if isinstance(base, str) and base.startswith(("http://", "https://")):
            return base.rstrip("/")
    return None


def with_server_base(settings: Settings) -> Settings:
    """Settings whose base is the server's: FHIR_PUBLIC_BASE_URL if set, else what the server recorded,
    else the configured bind address (no server has run on this data dir yet)."""
    if settings.public_base_url:
        return settings
    recorded = recorded_fhir_base(settings.data_dir)
    if recorded is None:
        return settings
    return settings.model_copy(update={"public_base_url": recorded})
