"""`fhir-server import-legacy PATH --data-dir D [--dry-run] [--report FILE]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fhir_server.db import connect
from fhir_server.settings import Settings


def _import_legacy(args: argparse.Namespace, settings: Settings) -> int:
    from fhir_server.app import build_services
    from fhir_server.legacy_import import LegacyDatabaseError, import_legacy, print_progress, write_report
    from terminology.local import LocalTerminology

    try:
        if args.dry_run:
            terminology = LocalTerminology()
            from fhir_server.bindings import binding_checker
            from fhir_server.interactions.common import WriteRules

            result = import_legacy(
                args.path,
                None,
                terminology,
                WriteRules(checkers=(binding_checker(terminology),)),
                national_id_system=settings.national_id_system,
                progress=print_progress,
            )
        else:
            connection = connect(settings, "cli")
            try:
                services = build_services(settings, connection)
                result = import_legacy(
                    args.path,
                    services.repository,
                    services.terminology,
                    services.rules,
                    national_id_system=settings.national_id_system,
                    progress=print_progress,
                )
            finally:
                connection.close()
    except LegacyDatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = args.report or (settings.data_dir / "legacy-import-report")
    report.parent.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = write_report(result, report)
    print("rows:")
    for table in ("hospitals", "patients", "studies"):
        s = result.summary
        print(
            f"  {table:9s} imported {s[f'{table}.imported']:6d}   with warnings "
            f"{s[f'{table}.imported_with_warnings']:6d}   rejected {s[f'{table}.rejected']:6d}"
        )
    c = result.counts
    mode = (
        "dry run, nothing written"
        if args.dry_run
        else f"created {c.created}, updated {c.updated}, unchanged {c.unchanged}"
    )
    print(f"resources: {result.resources} ({mode}) in {result.seconds:.1f}s = {result.per_second:.0f}/s")
    print(f"report: {json_path} and {csv_path} ({len(result.issues)} issues)")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("import-legacy", help="import the old Flask app's SQLite database")
    parser.add_argument("path", type=Path, help="the old app's federation.db")
    parser.add_argument("--data-dir", type=Path, help="data directory (env FHIR_DATA_DIR, default ./data)")
    parser.add_argument("--dry-run", action="store_true", help="map and validate only; write nothing")
    parser.add_argument("--report", type=Path, help="report path without suffix (writes .json and .csv)")
    parser.set_defaults(func=_import_legacy)
