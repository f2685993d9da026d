"""What the server says about its security when it starts (App Launch: a server that answers without a
token must say so where an operator will see it)."""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

from fhir_server.security.oauth.discovery import DEVELOPMENT_WARNING
from fhir_server.settings import Settings

log = logging.getLogger(__name__)


def cli_command() -> str:
    """How this server was started, so the hints can be pasted as they are (`.venv/bin/fhir-server`, or
    `python -m fhir_server` from a checkout)."""
    started_as = Path(sys.argv[0])
    if started_as.name == "fhir-server":
        return shlex.quote(str(started_as))
    return f"{shlex.quote(sys.executable)} -m fhir_server"


def announce(settings: Settings, fhir_base: str) -> None:
    data_dir = settings.data_dir
    if settings.auth_mode == "development":
        line = "!" * 78
        print(
            f"\n{line}\n!!  {DEVELOPMENT_WARNING}\n"
            f"!!  Set FHIR_AUTH_MODE=smart (the default) for a secured server.\n{line}\n",
            file=sys.stderr,
            flush=True,
        )
        log.warning("auth mode development: anonymous requests get full access")
        return
    command = cli_command()
    print(
        f"security: SMART on FHIR — every request to {fhir_base} needs a Bearer token "
        f"(discovery: {fhir_base}/.well-known/smart-configuration).\n"
        f"  admin token:   {command} token --data-dir {data_dir} --scope 'admin system/*.cruds'\n"
        f"  apps & users:  {command} client add …   {command} user add …   (see README, Security)",
        file=sys.stderr,
        flush=True,
    )
