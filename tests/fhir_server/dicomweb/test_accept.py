"""The Accept header the proxy sends Orthanc: "any type" made concrete, concrete types untouched."""

from __future__ import annotations

import pytest

from fhir_server.dicomweb.proxy.accept import upstream_accept
from fhir_server.dicomweb.proxy.compression import accepts_gzip

FRAMES = "studies/1.2/series/1.3/instances/1.4/frames/1"
BULK = "studies/1.2/series/1.3/instances/1.4/bulk/7FE00010"
OCTETS = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


@pytest.mark.parametrize(
    ("path", "accept", "expected"),
    [
        (FRAMES, 'multipart/related; type="*/*"', OCTETS),
        (BULK, 'multipart/related; type="*/*"', OCTETS),
        (FRAMES, "*/*", OCTETS),
        (FRAMES, None, OCTETS),
        (FRAMES, "multipart/related", OCTETS),
        (
            FRAMES,
            'multipart/related; type="*/*"; transfer-syntax=1.2.840.10008.1.2.1',
            'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1',
        ),
        (FRAMES, "multipart/related; type=image/jls", "multipart/related; type=image/jls"),
        (
            "studies/1.2",
            'multipart/related; type="*/*", application/json',
            'multipart/related; type="application/dicom"; transfer-syntax=*, application/json',
        ),
        ("studies/1.2/metadata", "*/*", "*/*"),
        ("studies/1.2/series", None, "*/*"),
    ],
)
def test_any_type_is_made_concrete(path: str, accept: str | None, expected: str) -> None:
    assert upstream_accept(path, accept) == expected


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("identity", False),
        (None, False),
        ("*", True),
        ("gzip;q=x", False),
    ],
)
def test_accepts_gzip(header: str | None, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted
