"""The URLs clients see: our DICOMweb proxy, never a hospital's Orthanc.

Endpoint.address is "the technical base address for connecting to this endpoint"
(https://hl7.org/fhir/R4/endpoint-definitions.html#Endpoint.address); a viewer appends
`/studies/{StudyInstanceUID}` to it, so it is the proxy base of that Endpoint.
"""

from __future__ import annotations

from fhir_server.settings import Settings

PROXY_PREFIX = "/dicomweb"


def server_base(settings: Settings) -> str:
    """Scheme, host and port clients use: FHIR_PUBLIC_BASE_URL without `/fhir`, else the bind address."""
    if settings.public_base_url:
        return settings.public_base_url.removesuffix("/fhir").rstrip("/")
    return f"http://{settings.host}:{settings.port}"


def endpoint_address(settings: Settings, endpoint_id: str) -> str:
    """Endpoint.address, and the base of every URL the proxy writes into responses.

    From settings only, never from a request's Host header: the CLI, the admin API and the proxy must all
    produce the same URL, or a viewer would be sent from the address it was given to another one.
    """
    return f"{server_base(settings)}{PROXY_PREFIX}/{endpoint_id}"
