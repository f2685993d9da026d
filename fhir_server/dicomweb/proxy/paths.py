"""Which DICOMweb resources the proxy forwards, and the study each one belongs to.

Only the read-only resources of PS3.18 are accepted, segment by segment (every UID, frame list and tag
checked), so that nothing but these paths can ever reach Orthanc:
  QIDO-RS (§10.6)  studies | series | instances                    (across studies: results are filtered)
                   studies/{s}/series | studies/{s}/instances | studies/{s}/series/{r}/instances
  WADO-RS (§10.4)  studies/{s}[/series/{r}[/instances/{i}]][/metadata | /rendered | /thumbnail]
                   studies/{s}/series/{r}/instances/{i}/frames/{n,…}[/rendered | /thumbnail]
                   studies/{s}/series/{r}/instances/{i}/bulk/{tag}…   (Orthanc's BulkDataURI targets)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_FRAMES = re.compile(r"^[1-9][0-9]*(,[1-9][0-9]*)*$")
_BULK_SEGMENT = re.compile(r"^([0-9A-Fa-f]{8}|[0-9]{1,6})$")
_UID_MAX = 64
_TOP_LEVEL_SEARCH = ("studies", "series", "instances")
_VIEWS = ("metadata", "rendered", "thumbnail")


@dataclass(frozen=True)
class DicomwebTarget:
    path: str  # the validated path, as forwarded to Orthanc under its DICOMweb root
    study_uid: str | None  # None only for a search across studies

    @property
    def searches_across_studies(self) -> bool:
        return self.study_uid is None


def parse_target(path: str) -> DicomwebTarget | None:
    """The target of `path` (relative to an Endpoint's base), None if the proxy does not serve it."""
    segments = path.strip("/").split("/")
    if len(segments) == 1 and segments[0] in _TOP_LEVEL_SEARCH:
        return DicomwebTarget(segments[0], None)
    if len(segments) < 2 or segments[0] != "studies" or not _is_uid(segments[1]):
        return None
    if _valid_within_study(segments[2:]):
        return DicomwebTarget("/".join(segments), segments[1])
    return None


def _valid_within_study(rest: list[str]) -> bool:
    if not rest:
        return True
    if rest in (["series"], ["instances"]) or (len(rest) == 1 and rest[0] in _VIEWS):
        return True
    if rest[0] != "series" or len(rest) < 2 or not _is_uid(rest[1]):
        return False
    return _valid_within_series(rest[2:])


def _valid_within_series(rest: list[str]) -> bool:
    if not rest or rest == ["instances"] or (len(rest) == 1 and rest[0] in _VIEWS):
        return True
    if rest[0] != "instances" or len(rest) < 2 or not _is_uid(rest[1]):
        return False
    return _valid_within_instance(rest[2:])


def _valid_within_instance(rest: list[str]) -> bool:
    if not rest or (len(rest) == 1 and rest[0] in _VIEWS):
        return True
    if rest[0] == "frames":
        return (
            len(rest) >= 2
            and bool(_FRAMES.match(rest[1]))
            and (len(rest) == 2 or (len(rest) == 3 and rest[2] in ("rendered", "thumbnail")))
        )
    if rest[0] == "bulk":
        return len(rest) >= 2 and all(_BULK_SEGMENT.match(segment) for segment in rest[1:])
    return False


def _is_uid(segment: str) -> bool:
    return len(segment) <= _UID_MAX and bool(_UID.match(segment))
