"""Where the installed viewer lives: FHIR_VIEWER_DIR, else `ohif/` beside this package (found wherever the
package is installed; ignored by git)."""

from __future__ import annotations

from pathlib import Path

from fhir_server.settings import Settings

DEFAULT_DIR = Path(__file__).resolve().parent / "ohif"


def viewer_dir(settings: Settings) -> Path:
    return (settings.viewer_dir or DEFAULT_DIR).resolve()
