"""The viewer advertised as an IHE Invoke Image Display Endpoint (`connectionType` `ihe-iid`,
https://hl7.org/fhir/R4/codesystem-endpoint-connection-type.html), so that an EHR finds by FHIR search where
to launch it by URL: `GET {address}?requestType=STUDY&studyUID=…` (fhir_server.viewer.launch). Written by
the server at start-up, addressed under its own base; unchanged content writes no new version.
"""

from __future__ import annotations

import logging

from fhir_server.security.server_base import fhir_base
from fhir_server.settings import Settings
from fhir_server.storage.repository import ResourceStore, VersionConflict
from fhir_server.type_aliases import JsonObject
from fhir_server.validation import validate_resource
from mappers.fhir_json import content

log = logging.getLogger(__name__)

IID_ENDPOINT_ID = "viewer-iid"
IID_PATH = "/viewer/IHEInvokeImageDisplay"
CONNECTION_TYPES = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"


def iid_endpoint(settings: Settings) -> JsonObject:
    return {
        "resourceType": "Endpoint",
        "id": IID_ENDPOINT_ID,
        "status": "active",
        "connectionType": {"system": CONNECTION_TYPES, "code": "ihe-iid", "display": "IHE IID"},
        "name": "Image viewer (IHE Invoke Image Display)",
        "payloadType": [{"text": "IHE Invoke Image Display"}],
        "payloadMimeType": ["text/html"],
        "address": fhir_base(settings).removesuffix("/fhir").rstrip("/") + IID_PATH,
    }


def advertise_iid(repository: ResourceStore, settings: Settings) -> None:
    """Start-up: the IID Endpoint as it should be now (another worker writing it at once is fine)."""
    wanted, _ = validate_resource(iid_endpoint(settings))
    current = repository.read("Endpoint", IID_ENDPOINT_ID)
    live = current is not None and not current.deleted and current.resource is not None
    if live and current is not None and content(current.resource or {}) == content(wanted):
        return
    try:
        repository.update(wanted, expected_version=current.version if live and current is not None else None)
    except VersionConflict:
        log.info("Endpoint/%s was written by another worker", IID_ENDPOINT_ID)
