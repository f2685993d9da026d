"""FHIR R4 Endpoints for a hospital's DICOMweb service (e.g. Orthanc's ``/dicom-web``)."""

from typing import Any
from urllib.parse import urlsplit

from terminology.systems import ENDPOINT_CONNECTION_TYPE_SYSTEM

ENDPOINT_STATUSES = frozenset({"active", "suspended", "error", "off", "entered-in-error", "test"})

# SMART Imaging Access (Argonaut 0.1.0): on every WADO-RS Endpoint, whether a client sends the same bearer
# token it used for the FHIR search (true: our proxy checks it on every request) or none (a capability URL).
REQUIRES_ACCESS_TOKEN = "http://fhir.org/argonaut/smart-imaging/StructureDefinition/requires-access-token"
WADO_RS = "dicom-wado-rs"


def requires_access_token() -> dict[str, Any]:
    return {"url": REQUIRES_ACCESS_TOKEN, "valueBoolean": True}


# Connection type code -> the display its code system gives it, reused as the payload type text.
DICOMWEB_CONNECTION_TYPES = {
    "dicom-wado-rs": "DICOM WADO-RS",
    "dicom-qido-rs": "DICOM QIDO-RS",
    "dicom-stow-rs": "DICOM STOW-RS",
}


def dicomweb_endpoints(
    org_ref: str, base_url: str, *, name: str, status: str = "active"
) -> list[dict[str, Any]]:
    """WADO-RS, QIDO-RS and STOW-RS Endpoints, all addressed at the DICOMweb service base.

    The address is the base a client appends ``/studies/{StudyInstanceUID}`` to, so a URL that already
    points into ``/studies`` is refused rather than producing links with the path twice.
    """
    if status not in ENDPOINT_STATUSES:
        raise ValueError(f"Endpoint.status must be one of {sorted(ENDPOINT_STATUSES)}, not {status!r}")
    if not org_ref or not name:
        raise ValueError("org_ref and name are required")
    address = _service_base(base_url)
    return [
        {
            "resourceType": "Endpoint",
            **({"extension": [requires_access_token()]} if code == WADO_RS else {}),
            "status": status,
            "connectionType": {
                "system": ENDPOINT_CONNECTION_TYPE_SYSTEM,
                "code": code,
                "display": display,
            },
            "name": name,
            "managingOrganization": {"reference": org_ref},
            "payloadType": [{"text": display}],
            "payloadMimeType": ["application/dicom"],
            "address": address,
        }
        for code, display in DICOMWEB_CONNECTION_TYPES.items()
    ]


def _service_base(base_url: str) -> str:
    address = base_url.strip().rstrip("/")
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"DICOMweb base must be an absolute http(s) URL, not {base_url!r}")
    if parts.query or parts.fragment or "studies" in parts.path.lower().split("/"):
        raise ValueError(f"DICOMweb base must be the service root, not a resource URL: {base_url!r}")
    return address
