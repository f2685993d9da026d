"""Orthanc's own REST API (not DICOMweb): the change feed, the study list, one study's summary, UID lookup.

https://orthanc.uclouvain.be/book/users/rest.html#tracking-changes: `/changes?since=N&limit=M` answers
{"Changes": [...], "Done": bool, "Last": seq}; each change has ChangeType, ResourceType, ID and Seq.
Orthanc 1.10 does not record deletions there, so the sync finds them by listing `/studies`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.orthanc.errors import translated
from fhir_server.settings import Settings


@dataclass(frozen=True)
class Change:
    seq: int
    change_type: str
    resource_type: str
    orthanc_id: str


@dataclass(frozen=True)
class ChangesPage:
    changes: list[Change]
    last: int
    done: bool


def timeouts(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(settings.orthanc_timeout_seconds, connect=settings.orthanc_connect_timeout_seconds)


class OrthancRest:
    def __init__(self, hospital: HospitalConnection, settings: Settings) -> None:
        self._hospital = hospital
        self._read_timeout = settings.orthanc_timeout_seconds
        self._client = httpx.Client(
            base_url=hospital.orthanc_url,
            auth=hospital.auth,
            timeout=timeouts(settings),
            follow_redirects=False,
        )

    def __enter__(self) -> OrthancRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        with translated(self._hospital.name, self._read_timeout):
            response = self._client.get(path, params=params)
            response.raise_for_status()
            return response.json()

    def system(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/system")
        return result

    def last_change(self) -> int:
        return int(self._get("/changes?last")["Last"])

    def changes(self, since: int, limit: int) -> ChangesPage:
        body = self._get("/changes", {"since": since, "limit": limit})
        changes = [
            Change(int(c["Seq"]), str(c["ChangeType"]), str(c["ResourceType"]), str(c["ID"]))
            for c in body.get("Changes", [])
        ]
        return ChangesPage(changes, int(body["Last"]), bool(body["Done"]))

    def study_ids(self, page_size: int = 1000) -> Iterator[str]:
        since = 0
        while True:
            page: list[str] = self._get("/studies", {"since": since, "limit": page_size})
            yield from page
            if len(page) < page_size:
                return
            since += len(page)

    def study(self, orthanc_id: str) -> dict[str, Any] | None:
        """The study summary (MainDicomTags, PatientMainDicomTags), None if it no longer exists."""
        with translated(self._hospital.name, self._read_timeout):
            response = self._client.get(f"/studies/{orthanc_id}")
            if response.status_code == 404:
                return None
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    def parent_study(self, series_id: str) -> str | None:
        with translated(self._hospital.name, self._read_timeout):
            response = self._client.get(f"/series/{series_id}")
            if response.status_code == 404:
                return None
            response.raise_for_status()
            return str(response.json()["ParentStudy"])

    def lookup_study(self, study_uid: str) -> str | None:
        with translated(self._hospital.name, self._read_timeout):
            response = self._client.post("/tools/lookup", content=study_uid.encode())
            response.raise_for_status()
            found = [item["ID"] for item in response.json() if item.get("Type") == "Study"]
            return found[0] if found else None
