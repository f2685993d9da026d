"""Command line: `fhir-server COMMAND --data-dir D …` (also `python -m fhir_server`).

Every command takes `--data-dir` and works whether or not a server is running on that data dir: with the
embedded database, a command attaches to the database of the running server, or starts its own.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack, closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from fhir_server.cli import dicomweb as cli_dicomweb
from fhir_server.cli import legacy_import as cli_import
from fhir_server.cli import viewer as cli_viewer
from fhir_server.cli.startup import AnnouncingServer, PortInUse, check_port, ready_lines, reserve_port
from fhir_server.observability.logs import configure as configure_logging
from fhir_server.observability.logs import json_wanted
from fhir_server.security.accounts import commands as auth_commands
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect
from fhir_server.storage.embedded import DataDirInUse, EmbeddedDatabaseError, record_http_port

if TYPE_CHECKING:
    from fhir_server.demo import OrthancAccess

Command = Callable[[argparse.Namespace, Settings], int]


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}  # argparse's values; Settings validates them
    for name in ("data_dir", "host", "port"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from fhir_server.demo import DEMO_ROLES

    if args.workers > 1:
        if settings.uses_embedded_db:
            print(
                "error: --workers > 1 needs an external MongoDB (FHIR_MONGODB_URI); the embedded "
                "database serves one process",
                file=sys.stderr,
            )
            return 2
        check_port(settings.host, settings.port)  # before the demo: a busy port fails in a second
        os.environ["FHIR_DATA_DIR"] = str(settings.data_dir)
        # The workers read their Settings from the environment: the bind address is the server's own base
        # URL (without FHIR_PUBLIC_BASE_URL), so they must see --host/--port too.
        os.environ["FHIR_HOST"] = settings.host
        os.environ["FHIR_PORT"] = str(settings.port)
        # The demo's local Orthancs (if any) live in this, the workers' parent process.
        with ExitStack() as stack:
            credentials = None
            if args.demo:
                demo_connection = stack.enter_context(closing(connect(settings, "cli")))
                credentials = _load_demo(args, settings, demo_connection, stack)
            starting = f"Starting {args.workers} workers (Ctrl+C stops them); once they are up:"
            print("\n".join(ready_lines(settings, credentials, DEMO_ROLES, starting)), flush=True)
            uvicorn.run(
                "fhir_server.asgi:app",
                host=settings.host,
                port=settings.port,
                workers=args.workers,
                log_level=settings.log_level,
                access_log=False,
                log_config=None,
            )
        return 0

    from fhir_server.app import create_app

    # The port first: nothing slow (database, Orthancs, uploads) happens before we know we can serve.
    listener = reserve_port(settings.host, settings.port)
    with closing(listener):
        connection = connect(settings, "server")
        try:
            if settings.uses_embedded_db:
                record_http_port(settings.data_dir, settings.port)
            with ExitStack() as stack:
                credentials = _load_demo(args, settings, connection, stack) if args.demo else None
                if connection.embedded is not None:  # connect() starts one exactly when uses_embedded_db
                    print(
                        f"embedded database under {settings.data_dir.resolve()} ({connection.embedded.uri})"
                    )
                app = create_app(settings, connection)
                # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into an exit through
                # `finally` so the embedded database is stopped cleanly and the data dir released.
                signal.signal(signal.SIGTERM, _exit_on_signal)
                config = uvicorn.Config(
                    app,
                    log_level=settings.log_level,
                    access_log=False,  # RequestObserver writes the access log, with request ids
                    log_config=None,  # keep our handlers for uvicorn's own messages too
                )
                server = AnnouncingServer(config, lambda: ready_lines(settings, credentials, DEMO_ROLES))
                server.run(sockets=[listener])
        finally:
            connection.close()
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from fhir_server.dicomweb.hospitals.addresses import with_server_base

    # One INFO line per Orthanc request would bury the summary.
    for name in ("httpx", "dicomweb_client"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # The demo's Endpoints are addressed at the server that serves them (the running one's base, if any).
    settings = with_server_base(settings)
    with closing(connect(settings, "cli")) as connection, ExitStack() as stack:
        _load_demo(args, settings, connection, stack)
    return 0


def _load_demo(
    args: argparse.Namespace, settings: Settings, connection: DatabaseConnection, stack: ExitStack
) -> dict[str, str]:
    """Loads the demo and prints a summary; local Orthancs, if started, stay up as long as `stack`.
    Returns the demo sign-ins (user -> password) for the ready lines."""
    from fhir_server.app import build_services
    from fhir_server.demo import load_demo

    print("loading the demo data set…", flush=True)
    orthancs = _demo_orthancs(args, settings, stack)
    report = load_demo(build_services(settings, connection), settings.data_dir, orthancs)
    print("\n".join(report.lines(with_credentials=args.command != "serve")), flush=True)
    return report.credentials


def _demo_orthancs(
    args: argparse.Namespace, settings: Settings, stack: ExitStack
) -> dict[str, OrthancAccess]:
    """The demo hospitals' Orthancs: the URLs given, else local ones (started for as long as `stack`) when
    Orthanc is installed and not switched off, else none (the demo then says that images are missing)."""
    from fhir_server.demo import OrthancAccess
    from fhir_server.demo.dataset import HOSPITALS
    from fhir_server.demo.local_hospitals import local_orthancs
    from fhir_server.demo.local_orthanc import INSTALL_HINT, LocalOrthancError, missing_orthanc

    if args.orthanc:
        if len(args.orthanc) > len(HOSPITALS):
            raise SystemExit(f"error: at most {len(HOSPITALS)} --orthanc URLs (one per demo hospital)")
        return {
            str(row["id"]): OrthancAccess(url, args.orthanc_user, args.orthanc_password)
            for row, url in zip(HOSPITALS, args.orthanc, strict=False)
        }
    if args.local_orthanc is False:
        return {}
    if missing_orthanc():
        if args.local_orthanc:
            raise SystemExit(f"error: --local-orthanc needs Orthanc; install: {INSTALL_HINT}")
        print(f"Orthanc is not installed: the demo has no images (install: {INSTALL_HINT})", file=sys.stderr)
        return {}
    try:
        return stack.enter_context(local_orthancs(settings.data_dir))
    except LocalOrthancError as exc:
        raise SystemExit(f"error: {exc}") from None


def with_database(settings: Settings) -> DatabaseConnection:
    """For commands added by later features: the data dir's database, shared with a running server."""
    return connect(settings, "cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhir-server", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, help="data directory (env FHIR_DATA_DIR, default ./data)")

    serve = sub.add_parser("serve", help="run the FHIR server")
    common(serve)
    serve.add_argument("--host", help="bind address (env FHIR_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env FHIR_PORT, default 8080)")
    serve.add_argument("--demo", action="store_true", help="load the demo data set first (if not loaded)")
    _demo_arguments(serve)
    serve.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (more than 1 needs FHIR_MONGODB_URI)"
    )
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="load the demo data set (idempotent)")
    common(demo)
    _demo_arguments(demo)
    demo.set_defaults(func=_demo)
    cli_import.add_commands(sub)
    cli_dicomweb.add_commands(sub)
    cli_viewer.add_commands(sub)
    auth_commands.add_commands(sub, common)
    return parser


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("demo images")
    group.add_argument(
        "--orthanc",
        action="append",
        metavar="URL",
        help="Orthanc of the demo hospitals HOS-001, HOS-002, HOS-003 in this order (repeat; default: local)",
    )
    group.add_argument("--orthanc-user", help="user name for the --orthanc servers")
    group.add_argument("--orthanc-password", help="password for the --orthanc servers")
    group.add_argument(
        "--local-orthanc",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run one Orthanc per demo hospital under the data dir (default: when Orthanc is installed)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as exc:
        for err in exc.errors():
            name = "FHIR_" + "_".join(str(p) for p in err["loc"]).upper() if err["loc"] else "settings"
            print(f"configuration error: {name}: {err['msg']}", file=sys.stderr)
        return 2
    # The server logs JSON to machines, text to a terminal (FHIR_LOG_FORMAT); CLI commands talk to people.
    configure_logging(settings.log_level, args.command == "serve" and json_wanted(settings.log_format))
    try:
        command: Command = args.func
        return command(args, settings)
    except (DataDirInUse, EmbeddedDatabaseError, PortInUse) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
