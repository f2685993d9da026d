"""Import of the old Flask app's SQLite database (hospitals, patients, studies) into FHIR resources.

Mapping is `mappers.legacy` (pure, golden-tested); this module reads the file, validates every mapped
resource with the server's write rules, writes in bulk and writes the report. Resources get
deterministic ids from the legacy ids, and unchanged resources are not rewritten, so a second run
creates nothing. Nothing is dropped silently: every row is imported, imported with warnings, or rejected,
and the report lists each warning and rejection with its row id and reason.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir_server.errors import FhirError
from fhir_server.interactions.common import WriteRules
from fhir_server.storage.mongo import CurrentVersion, ImportCounts, MongoRepository
from mappers.legacy import LegacyIssue, map_legacy_database, read_legacy_rows, report_rows
from mappers.legacy_modality import modality_lookup_from_terminology
from terminology.service import TerminologyService

BATCH_SIZE = 500
# mappers.legacy derives every id from the legacy one: HOS-001 -> legacy-hos-001.
LEGACY_ID_PREFIX = "legacy-"
Progress = Callable[[int, int], None]


@dataclass
class ImportResult:
    summary: dict[str, int]
    issues: list[LegacyIssue]
    counts: ImportCounts = field(default_factory=ImportCounts)
    resources: int = 0
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0


class LegacyDatabaseError(RuntimeError):
    """The file is not a readable database of the old app."""


def read_rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    if not path.is_file():
        raise LegacyDatabaseError(f"{path} does not exist")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return read_legacy_rows(connection)
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise LegacyDatabaseError(f"{path} is not a database of the old app: {exc}") from None


def import_legacy(
    path: Path,
    repository: MongoRepository | None,
    terminology: TerminologyService,
    rules: WriteRules,
    *,
    national_id_system: str,
    progress: Progress | None = None,
) -> ImportResult:
    """`repository` None is a dry run: everything is mapped and validated, nothing is written."""
    started = time.perf_counter()
    mapped = map_legacy_database(
        read_rows(path),
        modality_to_dcm=modality_lookup_from_terminology(terminology),
        national_id_system=national_id_system,
    )
    resources = _validated(mapped.resources, rules, mapped.issues)
    result = ImportResult(summary=mapped.summary(), issues=mapped.issues, resources=len(resources))
    done = 0
    known: dict[str, dict[str, CurrentVersion]] = {}
    for batch in _batches_by_type(resources):
        if repository is not None:
            resource_type = batch[0]["resourceType"]
            if resource_type not in known:
                known[resource_type] = repository.current_versions(resource_type, LEGACY_ID_PREFIX)
            result.counts.add(repository.import_batch(batch, known[resource_type]))
        done += len(batch)
        if progress is not None:
            progress(done, len(resources))
    result.seconds = time.perf_counter() - started
    return result


def _validated(
    resources: Sequence[dict[str, Any]], rules: WriteRules, issues: list[LegacyIssue]
) -> list[dict[str, Any]]:
    # mappers.legacy validates every resource against the R4B models already; the server's rules add the
    # JSON-type and terminology-binding checks. A resource that still fails is a reported rejection.
    valid = []
    for resource in resources:
        try:
            normalized, _ = rules.validate(resource, model_checked=True)
        except FhirError as exc:
            issues.append(LegacyIssue(_table_of(resource), resource["id"], "rejected", None, exc.diagnostics))
            continue
        valid.append(normalized)
    return valid


def _table_of(resource: dict[str, Any]) -> str:
    return {"Organization": "hospitals", "Endpoint": "hospitals", "Patient": "patients"}.get(
        resource["resourceType"], "studies"
    )


def _batches_by_type(resources: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    batches: list[list[dict[str, Any]]] = []
    for resource in resources:
        if (
            not batches
            or batches[-1][0]["resourceType"] != resource["resourceType"]
            or len(batches[-1]) >= BATCH_SIZE
        ):
            batches.append([])
        batches[-1].append(resource)
    return batches


def write_report(result: ImportResult, path: Path) -> tuple[Path, Path]:
    """The report as JSON (summary + issues) and as CSV (one line per issue)."""
    rows = report_rows(result.issues)
    json_path = path.with_suffix(".json")
    csv_path = path.with_suffix(".csv")
    json_path.write_text(json.dumps({"summary": result.summary, "issues": rows}, indent=2))
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["table", "row_id", "severity", "field", "reason"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k) for k in writer.fieldnames})
    return json_path, csv_path


def print_progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\rimporting [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
