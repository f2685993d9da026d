"""`serve`'s start-up: the port is taken before anything slow happens, and the last lines say where to go.

The listening socket is bound (and listening) first, before the database, the demo's Orthancs and uploads, so
a busy port fails in a second naming the port and how to choose another; uvicorn then serves on that very
socket (no second bind, no window for another process to take the port). When the server is up, the
dashboard's address, the FHIR base, the API documentation and the sign-ins are printed last.
"""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Callable, Mapping

import uvicorn

from fhir_server.security.server_base import fhir_base
from fhir_server.settings import Settings

LISTEN_BACKLOG = 2048  # uvicorn's default


class PortInUse(Exception):
    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(
            f"cannot listen on {host}:{port}: {reason}. Choose another port with --port N or FHIR_PORT=N "
            f"(for example: FHIR_PORT={port + 1 if port < 65535 else 8081} bash scripts/run.sh)"
        )


def reserve_port(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound as uvicorn would (SO_REUSEADDR, IPv6 for an IPv6 host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening now, not when the app is ready: a second server (also SO_REUSEADDR) could otherwise
        # bind the same port while this one loads its data.
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is already in use (another server, or an earlier one still running?)"
        elif exc.errno == errno.EACCES:
            reason = "permission denied (ports below 1024 need privileges)"
        else:
            reason = exc.strerror or str(exc)
        raise PortInUse(host, port, reason) from None
    sock.set_inheritable(True)
    return sock


def check_port(host: str, port: int) -> None:
    """For `--workers N`, where uvicorn binds its own socket: fail early all the same."""
    reserve_port(host, port).close()


def server_root(settings: Settings) -> str:
    return fhir_base(settings).removesuffix("/").removesuffix("/fhir")


def ready_lines(
    settings: Settings,
    credentials: Mapping[str, str] | None,
    roles: Mapping[str, str],
    heading: str = "The server is ready (Ctrl+C stops it).",
) -> list[str]:
    """What a person needs once the server answers: where the dashboard is, the FHIR base, how to sign in."""
    root = server_root(settings)
    lines = ["", heading, f"  API documentation: {root}/docs"]
    if settings.auth_mode == "development":
        lines.append(
            "  FHIR_AUTH_MODE=development: anonymous requests get full access (local experiments only)"
        )
    lines += [f"  Dashboard:         {root}/app/", f"  FHIR base:         {fhir_base(settings)}"]
    if credentials:
        for user, password in credentials.items():
            role = roles.get(user, "user")
            lines.append(f"  Sign in as:        {user} / {password}  ({role})")
    else:
        lines.append(
            f"  Sign in:           create an account first: fhir-server user add NAME --role admin "
            f"--data-dir {settings.data_dir}"
        )
    return lines


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server, printing `announce()` once it accepts requests (after the app's start-up)."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], list[str]]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            print("\n".join(self._announce()), flush=True)
            sys.stderr.flush()
