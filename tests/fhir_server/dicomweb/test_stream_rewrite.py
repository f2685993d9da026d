"""Orthanc URLs replaced in streamed bodies, wherever the chunk boundaries fall."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fhir_server.dicomweb.proxy.stream_rewrite import replace_in_part_headers, replace_in_stream

OLD = b"http://pacs:8042/dicom-web"
NEW = b"https://fhir.example/dicomweb/ep-1"


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _run(stream: AsyncIterator[bytes]) -> bytes:
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in stream])

    return asyncio.run(collect())


def test_every_occurrence_is_replaced_across_any_chunking() -> None:
    body = b'[{"BulkDataURI":"' + OLD + b'/studies/1"},{"u":"' + OLD + b'"}, "http://pacs:8042/dicom"]'
    expected = body.replace(OLD, NEW)
    for size in range(1, len(body) + 1):
        assert _run(replace_in_stream(_chunks(body, size), OLD, NEW)) == expected, size


def test_multipart_part_headers_are_rewritten_but_never_part_bodies() -> None:
    boundary = b"b0undary"
    part_body = b"\x00\x01DICOM with " + OLD + b" inside\xff"
    body = (
        b"--"
        + boundary
        + b"\r\nContent-Type: application/dicom\r\nContent-Location: "
        + OLD
        + b"/studies/1\r\n\r\n"
        + part_body
        + b"\r\n--"
        + boundary
        + b"\r\nContent-Location: "
        + OLD
        + b"/studies/2\r\n\r\n"
        + part_body
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )
    expected = body.replace(b"Content-Location: " + OLD, b"Content-Location: " + NEW)
    assert expected.count(OLD) == 2  # the two inside the part bodies
    for size in range(1, len(body) + 1):
        assert _run(replace_in_part_headers(_chunks(body, size), boundary, OLD, NEW)) == expected, size
