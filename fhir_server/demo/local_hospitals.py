"""One local Orthanc per demo hospital (`serve --demo --local-orthanc`), under `<data dir>/demo-orthanc/`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fhir_server.demo.dataset import HOSPITALS
from fhir_server.demo.loader import OrthancAccess
from fhir_server.demo.local_orthanc import LocalOrthanc

DIRECTORY = "demo-orthanc"


@contextmanager
def local_orthancs(data_dir: Path) -> Iterator[dict[str, OrthancAccess]]:
    """Starts them (all or none), yields their addresses by legacy hospital id, stops them on exit."""
    started: list[LocalOrthanc] = []
    try:
        access: dict[str, OrthancAccess] = {}
        for row in HOSPITALS:
            legacy_id = str(row["id"])
            orthanc = LocalOrthanc.in_directory(legacy_id, data_dir / DIRECTORY / legacy_id.lower())
            started.append(orthanc.start())
            access[legacy_id] = OrthancAccess(orthanc.url, orthanc.username, orthanc.password)
        yield access
    finally:
        for orthanc in started:
            if orthanc.process is not None:
                orthanc.process.terminate()  # all at once: each takes a moment to flush its index
        for orthanc in started:
            orthanc.stop()
