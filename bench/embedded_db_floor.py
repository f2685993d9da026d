"""What one stored resource costs the embedded database, by index layout: the ceiling on any bulk write.

    python bench/embedded_db_floor.py [--docs 20000]

Real ImagingStudy version documents (mapped legacy rows, built by `BulkLoader.prepare_import`, so with
the same `sp` search keys as an import) are inserted the way `import-legacy` inserts them (journaled
`insert_many` of 1,000) into the embedded database as `connect()` starts it, once per index layout:

    _id only                     the document and its `_id` entry
    version indexes              + `id_version` and `history` (reads, vread, _history)
    search index only            + the partial `sp.k` search index, no version indexes
    as stored (all indexes)      what `ensure_schema` creates: the real write path

For each it prints documents/s and the database process's CPU per document. SecantusDB maintains its
indexes in Python in one process, so its CPU per document bounds the rate no matter what the client does.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The repo root first: bench/ runs as a script.
sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from pymongo import IndexModel

from fhir_server.legacy.importer import modality_lookup_from_terminology, read_legacy_rows
from fhir_server.search.index import SearchIndexer, search_indexes
from fhir_server.settings import Settings
from fhir_server.storage.bulk_load import BulkLoader
from fhir_server.storage.connection import connect
from fhir_server.storage.schema import RESOURCE_INDEXES
from mappers.legacy import iter_legacy_database, new_legacy_import
from terminology.local import LocalTerminology

VERSION_INDEXES = [index.model() for index in RESOURCE_INDEXES]
SEARCH_INDEXES = [index.model() for index in search_indexes("ImagingStudy")]
LAYOUTS: dict[str, list[IndexModel]] = {
    "_id only": [],
    "version indexes": VERSION_INDEXES,
    "search index only": SEARCH_INDEXES,
    "as stored (all indexes)": [*VERSION_INDEXES, *SEARCH_INDEXES],
}
BATCH = 1_000


def study_documents(loader: BulkLoader, count: int, workdir: Path) -> list[dict[str, Any]]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from import_bench import generate

    source = workdir / "federation.db"
    generate(source, count, max(count // 4, 1))
    rows = read_legacy_rows(sqlite3.connect(source))
    mapped = iter_legacy_database(
        rows, new_legacy_import(), modality_to_dcm=modality_lookup_from_terminology(LocalTerminology())
    )
    studies = [r for r in mapped if r["resourceType"] == "ImagingStudy"]
    return loader.prepare_import(studies, {}).docs


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        connection = connect(Settings(data_dir=Path(tmp) / "data"), "cli")
        try:
            # prepare_import only builds the documents; nothing is written through the loader.
            loader = BulkLoader(connection, ["ImagingStudy"], SearchIndexer().index_values)
            docs = study_documents(loader, args.docs, Path(tmp))
            keys = sum(len(d["sp"]["k"]) for d in docs) / len(docs)
            print(f"{len(docs):,} ImagingStudy documents, {keys:.1f} search keys each (sp.k)")
            pid = connection.embedded.pid if connection.embedded else None
            if pid is None:
                raise SystemExit("the embedded database did not start in this process")
            for number, (label, indexes) in enumerate(LAYOUTS.items()):
                collection = connection.db.get_collection(f"floor{number}")
                if indexes:
                    collection.create_indexes(indexes)
                batches = [[dict(d) for d in docs[i : i + BATCH]] for i in range(0, len(docs), BATCH)]
                cpu = process_cpu_seconds(pid)
                start = time.perf_counter()
                for batch in batches:
                    collection.insert_many(batch, ordered=False)
                wall = time.perf_counter() - start
                cpu = process_cpu_seconds(pid) - cpu
                print(
                    f"{label:26s} {len(docs) / wall:7,.0f} documents/s   "
                    f"database CPU {cpu * 1000 / len(docs):.3f} ms/document",
                    flush=True,
                )
                collection.drop()
        finally:
            connection.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
