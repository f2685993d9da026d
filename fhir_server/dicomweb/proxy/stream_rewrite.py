"""Replacing Orthanc's own URLs by ours in a streamed body, chunk by chunk, without buffering the body.

Orthanc writes absolute URLs into DICOM JSON (Retrieve URL (0008,1190), BulkDataURI); a viewer following
them must come back through the proxy, never reach the PACS directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator


async def replace_in_stream(chunks: AsyncIterator[bytes], old: bytes, new: bytes) -> AsyncIterator[bytes]:
    """`chunks` with every occurrence of `old` replaced, including occurrences split across chunks."""
    if not old:
        raise ValueError("nothing to replace")
    held = b""
    async for chunk in chunks:
        buffer = held + chunk
        out, held = _replace_complete(buffer, old, new)
        if out:
            yield out
    if held:
        yield held


def _replace_complete(buffer: bytes, old: bytes, new: bytes) -> tuple[bytes, bytes]:
    """(buffer with complete occurrences replaced, a tail that may be the start of one, held back)."""
    out = bytearray()
    position = 0
    while (found := buffer.find(old, position)) != -1:
        out += buffer[position:found] + new
        position = found + len(old)
    # Any occurrence starting before this point would have been complete inside the buffer.
    keep_from = max(position, len(buffer) - len(old) + 1)
    out += buffer[position:keep_from]
    return bytes(out), buffer[keep_from:]


_HEADERS_END = b"\r\n\r\n"
# A part's header block is a few hundred bytes; past this the stream is not the multipart it claimed to be.
_MAX_HEADER_BLOCK = 64 * 1024


async def replace_in_part_headers(
    chunks: AsyncIterator[bytes], boundary: bytes, old: bytes, new: bytes
) -> AsyncIterator[bytes]:
    """A multipart body (RFC 2046) with `old` replaced in the part headers only (e.g. Content-Location).

    Part bodies pass through untouched: a DICOM instance may itself contain the Orthanc URL, and changing
    the length of one of its elements would corrupt it.
    """
    delimiter = b"--" + boundary
    buffer = b""
    in_headers = False
    async for chunk in chunks:
        buffer += chunk
        while True:
            if in_headers:
                end = buffer.find(_HEADERS_END)
                if end == -1 and len(buffer) <= _MAX_HEADER_BLOCK:
                    break
                cut = len(buffer) if end == -1 else end + len(_HEADERS_END)
                yield buffer[:cut].replace(old, new)
                buffer, in_headers = buffer[cut:], False
                continue
            found = buffer.find(delimiter)
            if found == -1:
                # Hold back what could be the start of a delimiter split across chunks.
                keep_from = max(0, len(buffer) - len(delimiter) + 1)
                if keep_from:
                    yield buffer[:keep_from]
                buffer = buffer[keep_from:]
                break
            cut = found + len(delimiter)
            yield buffer[:cut]
            buffer = buffer[cut:]
            # The close delimiter ("--boundary--") has no headers after it; wait until that is decidable.
            in_headers = True
    if buffer:
        yield buffer
