"""`fhir-server install-viewer`: the bundled OHIF Viewer (fhir_server.viewer), pinned and checked."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fhir_server.settings import Settings
from fhir_server.viewer import ViewerInstallError, install_viewer, viewer_dir


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    install = sub.add_parser(
        "install-viewer", help="install the OHIF image viewer served under /viewer/ (idempotent; needs npm)"
    )
    install.add_argument("--data-dir", type=Path, help="data directory (env FHIR_DATA_DIR, default ./data)")
    install.add_argument(
        "--tarball",
        type=Path,
        help="install from this @ohif/app tarball (checked the same way) instead of npm",
    )
    install.set_defaults(func=_install)


def _install(args: argparse.Namespace, settings: Settings) -> int:
    try:
        print(install_viewer(viewer_dir(settings), args.tarball))
    except (ViewerInstallError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
