"""The Accept header sent to Orthanc for a WADO-RS retrieval, with "any type" made concrete.

DICOMweb clients ask for frames and bulk data with `multipart/related; type="*/*"` (dicomweb-client's
default) or a bare `*/*`: PS3.18 §8.7.3.5 lets the origin server pick the type and transfer syntax then.
Orthanc's DICOMweb plugin rejects those ranges with a 400, so the proxy makes the pick it is allowed to make:
the stored bytes (`transfer-syntax=*`) as `application/octet-stream` for frames and bulk data, as
`application/dicom` for a study, series or instance. Any range naming a concrete type passes unchanged.
"""

from __future__ import annotations

from email.message import Message
from typing import Literal

ResourceKind = Literal["search", "dicom", "frames", "bulk", "view"]

_ANY = "*/*"
_MULTIPART = "multipart/related"
_CONCRETE: dict[ResourceKind, str] = {"dicom": "application/dicom", "frames": "application/octet-stream"}
_CONCRETE["bulk"] = _CONCRETE["frames"]


def resource_kind(path: str) -> ResourceKind:
    """What a validated proxy path (fhir_server.dicomweb.proxy.paths) retrieves."""
    segments = path.strip("/").split("/")
    last = segments[-1]
    if last in ("metadata", "rendered", "thumbnail"):
        return "view"
    if "bulk" in segments:
        return "bulk"
    if "frames" in segments:
        return "frames"
    if last in ("studies", "series", "instances"):
        return "search"
    return "dicom"


def upstream_accept(path: str, accept: str | None) -> str:
    """The Accept header for Orthanc: the client's, with its "any type" ranges made concrete."""
    kind = resource_kind(path)
    concrete = _CONCRETE.get(kind)
    if concrete is None:
        return accept or _ANY
    if not accept or not accept.strip():
        return _multipart(concrete, {})
    return ", ".join(_concrete_range(media_range, concrete) for media_range in _ranges(accept))


def _ranges(accept: str) -> list[str]:
    """The comma-separated media ranges of an Accept header (a quoted parameter may hold a comma)."""
    ranges: list[str] = []
    current: list[str] = []
    quoted = False
    for char in accept:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            ranges.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    ranges.append("".join(current).strip())
    return [r for r in ranges if r]


def _concrete_range(media_range: str, concrete: str) -> str:
    header = Message()
    header["content-type"] = media_range
    # get_content_type() turns anything unparsable into text/plain: compare the raw type instead.
    media_type = media_range.split(";", 1)[0].strip().lower()
    params = {k.lower(): v for k, v in header.get_params(failobj=[])[1:] if isinstance(v, str)}
    if media_type == _ANY:
        return _multipart(concrete, params)
    if media_type == _MULTIPART and params.get("type", _ANY) == _ANY:
        return _multipart(concrete, {k: v for k, v in params.items() if k != "type"})
    return media_range


def _multipart(concrete: str, params: dict[str, str]) -> str:
    rest = {k: v for k, v in params.items() if k not in ("type", "transfer-syntax")}
    # The client accepted any type, hence any transfer syntax: send what is stored, never transcode.
    transfer_syntax = params.get("transfer-syntax", "*")
    parts = [_MULTIPART, f'type="{concrete}"', f"transfer-syntax={transfer_syntax}"]
    parts += [f"{k}={v}" for k, v in rest.items()]
    return "; ".join(parts)
