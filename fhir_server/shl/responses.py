"""FHIR Parameters answers of the $shl operations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhir_server.shl.components import ShlComponents
from fhir_server.shl.store import Link


def qr_url(fhir_base: str, link: Link) -> str:
    return f"{fhir_base}/Patient/{link.patient}/$shl-qr?id={link.id}"


def created(shl: ShlComponents, fhir_base: str, link: Link) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "link", "valueString": shl.text(link)},
            {"name": "viewerUrl", "valueUrl": shl.viewer_text(link)},
            {"name": "qr", "valueUrl": qr_url(fhir_base, link)},
            {"name": "id", "valueString": link.id},
        ],
    }


def listing(fhir_base: str, links: list[Link], status: Callable[[Link], str]) -> dict[str, Any]:
    """`status`: ShlComponents.status (a link's own state and whether its creator's access still holds)."""
    return {
        "resourceType": "Parameters",
        "parameter": [_summary(fhir_base, link, status(link)) for link in links],
    }


def _summary(fhir_base: str, link: Link, status: str) -> dict[str, Any]:
    doc = link.doc
    parts: list[dict[str, Any]] = [
        {"name": "id", "valueString": link.id},
        {"name": "status", "valueCode": status},
        {"name": "created", "valueDateTime": _instant(doc["created"])},
        {"name": "patient", "valueReference": {"reference": f"Patient/{link.patient}"}},
        {"name": "imageAccess", "valueBoolean": bool(doc.get("image_access"))},
        {"name": "qr", "valueUrl": qr_url(fhir_base, link)},
        {"name": "log", "valueUrl": f"{fhir_base}/Patient/{link.patient}/$shl-log?id={link.id}"},
    ]
    if link.flags:
        parts.append({"name": "flag", "valueString": link.flags})
    if doc.get("label"):
        parts.append({"name": "label", "valueString": doc["label"]})
    if link.study:
        parts.append({"name": "study", "valueReference": {"reference": f"ImagingStudy/{link.study}"}})
    if link.expires:
        parts.append({"name": "expires", "valueDateTime": _instant(link.expires)})
    if doc.get("revoked"):
        parts.append({"name": "revoked", "valueDateTime": _instant(doc["revoked"])})
    if doc.get("attempts") is not None:
        parts.append({"name": "remainingAttempts", "valueInteger": int(doc["attempts"])})
    return {"name": "shl", "part": parts}


def _instant(value: Any) -> str:
    text: str = value.isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if value.tzinfo else text + "Z"
