"""`fhir-server import-legacy PATH --data-dir D [--dry-run] [--report FILE]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect
from fhir_server.storage.embedded import STORAGE_DIR

if TYPE_CHECKING:
    from fhir_server.legacy.importer import ImportResult


def _import_legacy(args: argparse.Namespace, settings: Settings) -> int:
    from fhir_server.legacy.importer import LegacyDatabaseError, write_report

    try:
        result = _dry_run(args, settings) if args.dry_run else _write(args, settings)
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
    if result.kept:
        would = "would win" if args.dry_run else "won"
        print(f"stored data {would} over legacy values (legacy values only fill gaps):")
        for resource_type, kept in result.kept.items():
            print(f"  {kept.line(resource_type)}")
    c = result.counts
    counts = f"create {c.created}, update {c.updated}, leave {c.unchanged} unchanged"
    mode = (
        f"dry run, nothing written: would {counts}"
        if args.dry_run
        else f"created {c.created}, updated {c.updated}, unchanged {c.unchanged}"
    )
    print(f"resources: {result.resources} ({mode}) in {result.seconds:.1f}s = {result.per_second:.0f}/s")
    print(f"report: {json_path} and {csv_path} ({len(result.issues)} issues)")
    return 0


def _write(args: argparse.Namespace, settings: Settings) -> ImportResult:
    from fhir_server.app import build_services
    from fhir_server.legacy.importer import import_legacy, print_progress
    from fhir_server.resource_types import MODELS
    from fhir_server.search.index import SearchIndexer
    from fhir_server.storage.bulk_load import BulkLoader

    connection = connect(settings, "cli")
    try:
        services = build_services(settings, connection)  # the schema, and its migrations, first
        # Indexed as the server indexes (build_services' indexer): its own base URLs index as relative.
        indexer = SearchIndexer([settings.public_base_url or ""])
        return import_legacy(
            args.path,
            BulkLoader(connection, list(MODELS), indexer.index_values),
            services.terminology,
            services.rules,
            national_id_system=settings.national_id_system,
            progress=print_progress,
        )
    finally:
        connection.close()


def _dry_run(args: argparse.Namespace, settings: Settings) -> ImportResult:
    """Compares with the stored data when there is a database, without creating one where there is none
    and without build_services, whose index set-up and re-indexing would write."""
    from fhir_server.binding_checks import binding_checker
    from fhir_server.interactions.common import WriteRules
    from fhir_server.legacy.importer import import_legacy, print_progress
    from fhir_server.resource_types import MODELS
    from fhir_server.search.index import SearchIndexer
    from fhir_server.storage.bulk_load import BulkLoader
    from terminology.local import LocalTerminology

    terminology = LocalTerminology()
    rules = WriteRules(checkers=(binding_checker(terminology),))
    connection: DatabaseConnection | None = None
    if settings.mongodb_uri is not None or (settings.data_dir / STORAGE_DIR).is_dir():
        connection = connect(settings, "cli")
    try:
        loader = None
        if connection is not None:
            indexer = SearchIndexer([settings.public_base_url or ""])
            loader = BulkLoader(connection, list(MODELS), indexer.index_values)
        return import_legacy(
            args.path,
            loader,
            terminology,
            rules,
            national_id_system=settings.national_id_system,
            progress=print_progress,
            dry_run=True,
        )
    finally:
        if connection is not None:
            connection.close()


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("import-legacy", help="import the old Flask app's SQLite database")
    parser.add_argument("path", type=Path, help="the old app's federation.db")
    parser.add_argument("--data-dir", type=Path, help="data directory (env FHIR_DATA_DIR, default ./data)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="map, validate and compare with the stored data; print what would change, write nothing",
    )
    parser.add_argument("--report", type=Path, help="report path without suffix (writes .json and .csv)")
    parser.set_defaults(func=_import_legacy)
