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
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import Any

from fhir_server.errors import FhirError
from fhir_server.interactions.common import WriteRules
from fhir_server.storage.mongo import CurrentVersion, ImportCounts, MongoRepository, PreparedImport
from mappers.legacy import LegacyIssue, iter_legacy_database, new_legacy_import, read_legacy_rows, report_rows
from mappers.legacy_modality import modality_lookup_from_terminology
from terminology.service import TerminologyService

# The embedded database writes an insert in storage transactions of at most 1,000 documents; larger batches
# only cost memory (up to _QUEUE_DEPTH + 2 batches are held), smaller ones more round trips.
BATCH_SIZE = 1000
# Prepared batches waiting for the writer: enough to keep it busy, few enough to bound memory.
_QUEUE_DEPTH = 4
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
    """`repository` None is a dry run: everything is mapped and validated, nothing is written.

    Rows are mapped, validated and turned into version documents by a background thread while this one
    writes the batches prepared before: the database runs in its own process, so on two cores both halves
    work at once and the import runs at the pace of the slower half instead of the sum of both.
    `progress(done, total)` is called from this thread; `total` is the number of resources the rows can
    give at most (a rejected row gives none), and the last call has `done == total`.
    """
    started = time.perf_counter()
    rows = read_rows(path)
    mapped = new_legacy_import()
    resources = iter_legacy_database(
        rows,
        mapped,
        modality_to_dcm=modality_lookup_from_terminology(terminology),
        national_id_system=national_id_system,
    )
    batches = _batches_by_type(_validated(resources, rules, mapped.issues))
    result = ImportResult(summary={}, issues=mapped.issues)
    total = 2 * len(rows["hospitals"]) + len(rows["patients"]) + len(rows["studies"])
    if repository is None:
        for batch in batches:
            result.resources += len(batch)
            if progress is not None:
                progress(result.resources, total)
    else:
        for prepared in _prepared_in_background(repository, batches):
            repository.write_import(prepared)
            result.counts.add(prepared.counts)
            result.resources += prepared.counts.total
            if progress is not None:
                progress(result.resources, total)
    if progress is not None and result.resources < total:
        progress(result.resources, result.resources)
    result.summary = mapped.summary()
    result.seconds = time.perf_counter() - started
    return result


_DONE = object()


def _prepared_in_background(
    repository: MongoRepository, batches: Iterator[list[dict[str, Any]]]
) -> Iterator[PreparedImport]:
    """The batches' version documents, prepared by a producer thread at most `_QUEUE_DEPTH` batches ahead
    of the caller, in order. The producer's exceptions are raised here; when the caller stops early (an
    exception while writing), the producer stops too."""
    queue: Queue[object] = Queue(maxsize=_QUEUE_DEPTH)
    stop = threading.Event()

    def produce() -> None:
        known: dict[str, dict[str, CurrentVersion]] = {}
        try:
            for batch in batches:
                resource_type = batch[0]["resourceType"]
                if resource_type not in known:
                    known[resource_type] = repository.current_versions(resource_type, LEGACY_ID_PREFIX)
                if not _put(queue, repository.prepare_import(batch, known[resource_type]), stop):
                    return
            _put(queue, _DONE, stop)
        except BaseException as exc:  # handed over to the caller's thread, which raises it
            _put(queue, exc, stop)

    producer = threading.Thread(target=produce, name="legacy-import-producer", daemon=True)
    producer.start()
    try:
        while (item := queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, PreparedImport)
            yield item
    finally:
        stop.set()
        producer.join()


def _put(queue: Queue[object], item: object, stop: threading.Event) -> bool:
    """Blocks while the queue is full; False once the consumer has stopped."""
    while not stop.is_set():
        try:
            queue.put(item, timeout=0.1)
            return True
        except Full:
            continue
    return False


def _validated(
    resources: Iterable[dict[str, Any]], rules: WriteRules, issues: list[LegacyIssue]
) -> Iterator[dict[str, Any]]:
    # mappers.legacy validates every resource against the R4B models already; the server's rules add the
    # JSON-type and terminology-binding checks. A resource that still fails is a reported rejection.
    for resource in resources:
        try:
            normalized, _ = rules.validate(resource, model_checked=True)
        except FhirError as exc:
            issues.append(LegacyIssue(_table_of(resource), resource["id"], "rejected", None, exc.diagnostics))
            continue
        yield normalized


def _table_of(resource: dict[str, Any]) -> str:
    return {"Organization": "hospitals", "Endpoint": "hospitals", "Patient": "patients"}.get(
        resource["resourceType"], "studies"
    )


def _batches_by_type(resources: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for resource in resources:
        if batch and (batch[0]["resourceType"] != resource["resourceType"] or len(batch) >= BATCH_SIZE):
            yield batch
            batch = []
        batch.append(resource)
    if batch:
        yield batch


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
