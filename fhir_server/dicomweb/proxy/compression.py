"""gzip of the proxy's responses when the client accepts it (RFC 9110 §8.4, §12.5.3), streamed.

Study metadata is DICOM JSON of ~100 kB for a small CT and compresses about tenfold; uncompressed pixel data
(multipart application/dicom or octet-stream) about halves, so it is compressed at the fastest level. Images
already compressed (rendered JPEG/PNG, thumbnails) pass as they are.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

_JSON_LEVEL = 6
_BINARY_LEVEL = 1
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether `gzip` (or `*`) is an acceptable content coding with a q-value above 0."""
    for coding in (accept_encoding or "").split(","):
        name, _, params = coding.strip().partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = params.strip().lower().removeprefix("q=")
        try:
            return not params.strip() or float(q) > 0
        except ValueError:
            return False
    return False


def level_for(media_type: str) -> int | None:
    """The gzip level for a response of `media_type`, None if compressing it is a waste."""
    media_type = media_type.split(";", 1)[0].strip().lower()
    if media_type.endswith("json"):
        return _JSON_LEVEL
    if media_type in ("multipart/related", "application/dicom", "application/octet-stream"):
        return _BINARY_LEVEL
    return None


async def gzipped(chunks: AsyncIterator[bytes], level: int) -> AsyncIterator[bytes]:
    compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
    async for chunk in chunks:
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()
