"""Import of the old Flask app's SQLite database (hospitals, patients, studies) into FHIR resources.

Mapping is `mappers.legacy` (pure, golden-tested); this module reads the file, validates every mapped
resource with the server's write rules, writes in bulk and writes the report. Resources get
deterministic ids from the legacy ids, and unchanged resources are not rewritten, so a second run
creates nothing. Nothing is dropped silently: every row is imported, imported with warnings, or rejected,
and the report lists each warning and rejection with its row id and reason.

An import never downgrades: where a resource under a legacy id holds what the DICOMweb sync or a hospital's
registration wrote (a study's Study Instance UID and series, an Endpoint's real address), the stored values
win and legacy values only fill gaps (`mappers.legacy.merge_with_existing`); every legacy value not applied
is a `conflict` row of the report, and `ImportResult.kept` counts what happened per resource type.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from queue import Full, Queue
from typing import Any

from fhir_server.errors import FhirError
from fhir_server.interactions.common import WriteRules
from fhir_server.storage.bulk_load import BulkLoad, CurrentVersion, ImportCounts, PreparedImport
from fhir_server.storage.mongo import content_hash
from mappers.fhir_json import content
from mappers.legacy import (
    LegacyIssue,
    LegacyMerge,
    iter_legacy_database,
    legacy_row,
    merge_with_existing,
    new_legacy_import,
    read_legacy_rows,
    report_rows,
)
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


# How the summary names each resource type kept over legacy values.
_KEPT_NOUNS = {"ImagingStudy": "studies", "Endpoint": "Endpoints", "Organization": "Organizations"}


@dataclass
class KeptStored:
    """Stored resources of one type whose values won over the legacy ones (see merge_with_existing)."""

    source: str  # whose values won, e.g. "DICOM"
    resources: int = 0
    added: Counter[str] = field(default_factory=Counter)  # element -> resources it was added to
    conflicts: int = 0  # the report's conflict rows (legacy values not applied)

    def count(self, merge: LegacyMerge) -> None:
        self.resources += 1
        self.added.update(merge.added)
        self.conflicts += len(merge.conflicts)

    def line(self, resource_type: str) -> str:
        """E.g. "4 studies from DICOM: legacy description added to 1, nothing overwritten"."""
        added = [
            f"{element} added" + ("" if n == self.resources else f" to {n}")
            for element, n in sorted(self.added.items())
        ]
        head = f"{self.resources} {_KEPT_NOUNS.get(resource_type, resource_type)} from {self.source}: "
        line = head + (f"legacy {', '.join(added)}" if added else "nothing added") + ", nothing overwritten"
        if self.conflicts:
            rows = "row" if self.conflicts == 1 else "rows"
            line += f"; {self.conflicts} conflict {rows} in the report"
        return line

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "resources": self.resources,
            "added": dict(sorted(self.added.items())),
            "conflicts": self.conflicts,
        }


@dataclass
class ImportResult:
    summary: dict[str, int]
    issues: list[LegacyIssue]
    counts: ImportCounts = field(default_factory=ImportCounts)
    resources: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    kept: dict[str, KeptStored] = field(default_factory=dict)  # by resource type

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
    repository: BulkLoad | None,
    terminology: TerminologyService,
    rules: WriteRules,
    *,
    national_id_system: str,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """With `dry_run` everything is mapped, validated, merged with the stored data and counted as it would be
    written, and nothing is written. `repository` None is a dry run against an empty database (every resource
    would be created), for a data dir that has none yet.

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
    result = ImportResult(summary={}, issues=mapped.issues, dry_run=dry_run or repository is None)
    total = 2 * len(rows["hospitals"]) + len(rows["patients"]) + len(rows["studies"])
    if repository is None:
        for batch in batches:
            result.resources += len(batch)
            result.counts.created += len(batch)
            if progress is not None:
                progress(result.resources, total)
    else:
        stored = _StoredData(repository, rules, mapped.issues, result.kept)
        for prepared in _prepared_in_background(repository, batches, stored):
            if not dry_run:
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
    repository: BulkLoad, batches: Iterator[list[dict[str, Any]]], stored: _StoredData
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
                batch = stored.merged(batch, known[resource_type])
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


class _StoredData:
    """Keeps what the sync or a registration stored under legacy ids: each mapped resource whose stored
    version has other content is merged into it (mappers.legacy.merge_with_existing).

    Only those resources are read, one by one through the id index: a re-import of unchanged data reads
    nothing, and the embedded database would answer a batched `$in` with a collection scan. Runs in the
    producer thread, which is also the only one appending to `issues` until the import ends.
    """

    def __init__(
        self,
        repository: BulkLoad,
        rules: WriteRules,
        issues: list[LegacyIssue],
        kept: dict[str, KeptStored],
    ) -> None:
        self._repository = repository
        self._rules = rules
        self._issues = issues
        self._kept = kept
        self._hospital_ids: dict[str, str] = {}  # Organization id -> legacy hospital id, for Endpoint rows

    def merged(self, batch: list[dict[str, Any]], known: dict[str, CurrentVersion]) -> list[dict[str, Any]]:
        out = []
        for resource in batch:
            if resource["resourceType"] == "Organization":
                self._hospital_ids[resource["id"]] = legacy_row(resource, {})[1]
            latest = known.get(resource["id"])
            if latest is None or latest.deleted or latest.content_hash == content_hash(resource):
                out.append(resource)
                continue
            out.append(self._merged(resource))
        return out

    def _merged(self, resource: dict[str, Any]) -> dict[str, Any]:
        current = self._repository.read(resource["resourceType"], resource["id"])
        if current is None or current.deleted or current.resource is None:
            return resource
        table, row_id = legacy_row(resource, self._hospital_ids)
        merge = merge_with_existing(resource, current.resource, table=table, row_id=row_id)
        if merge is None:
            return resource  # only imports wrote it: the mapping replaces it, as a re-import always did
        merged = merge.resource
        if merge.added:
            # Stored and legacy elements are each valid; together they are checked again all the same.
            try:
                merged, _ = self._rules.validate(merged)
            except FhirError as exc:
                reason = f"legacy values not added, the stored resource is kept as is: {exc.diagnostics}"
                row = LegacyIssue(table, row_id, "conflict", None, reason)
                stored = content(current.resource)
                merge = replace(merge, resource=stored, added=(), conflicts=(*merge.conflicts, row))
                merged = merge.resource
        self._issues.extend(merge.conflicts)
        kept = self._kept.setdefault(resource["resourceType"], KeptStored(merge.source))
        kept.count(merge)
        return merged


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
    kept = {resource_type: k.to_json() for resource_type, k in result.kept.items()}
    document = {"dry_run": result.dry_run, "summary": result.summary, "kept": kept, "issues": rows}
    json_path.write_text(json.dumps(document, indent=2))
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
