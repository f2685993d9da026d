"""Real Orthanc servers (Debian packages `orthanc` + `orthanc-dicomweb`) on free loopback ports for tests,
started the way the demo starts its local ones (fhir_server.demo.local_orthanc), with fixed credentials so
that tests can talk to Orthanc directly as a modality would. A missing Orthanc fails the tests with the
install command: never a skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fhir_server.demo.local_orthanc import INSTALL_HINT, LocalOrthanc, missing_orthanc

USER = "fhir-sync"
PASSWORD = "orthanc-test-secret-7f3a"


def require_orthanc() -> None:
    if missing := missing_orthanc():
        pytest.fail(
            f"Orthanc is required by the DICOMweb tests but {', '.join(map(str, missing))} is missing; "
            f"install: {INSTALL_HINT}",
            pytrace=False,
        )


@dataclass
class OrthancServer(LocalOrthanc):
    username: str = USER
    password: str = PASSWORD

    def store(self, dicom: bytes) -> dict[str, Any]:
        """As a modality would: Orthanc's REST upload, not our STOW-RS."""
        response = httpx.post(f"{self.url}/instances", content=dicom, auth=self.auth, timeout=30)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def delete_study(self, orthanc_id: str) -> None:
        httpx.delete(f"{self.url}/studies/{orthanc_id}", auth=self.auth, timeout=30).raise_for_status()
