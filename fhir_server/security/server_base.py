"""This server's own FHIR base URL, and the one a server on this database last announced (so that
`fhir-server token` mints tokens for the right audience without being told; collection `auth_meta`).

The base is FHIR_PUBLIC_BASE_URL, else the address the server is bound to (`serve --host H --port P`, which
the CLI and the in-process test servers put into Settings). It never comes from a request: the Host header
is the client's to choose, and the base decides which token audiences are accepted and goes into every URL
the server writes (fullUrl, links, Location, discovery, Endpoint addresses, SHL URLs).
"""

from __future__ import annotations

from fhir_server.settings import Settings
from fhir_server.storage.documents import Documents

# A wildcard bind accepts connections on every interface; loopback is the one address sure to reach it.
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def bind_origin(settings: Settings) -> str:
    """`http://host:port` of the address the server is bound to."""
    host = "127.0.0.1" if settings.host in _WILDCARD_HOSTS else settings.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal in a URL
    return f"http://{host}:{settings.port}"


def fhir_base(settings: Settings) -> str:
    """This server's FHIR base URL (no trailing slash): configured, or the bind address."""
    return settings.public_base_url or f"{bind_origin(settings)}/fhir"


def record_server_base(documents: Documents, settings: Settings) -> None:
    documents.collection("auth_meta").update_one(
        {"_id": "server"}, {"$set": {"fhir_base": fhir_base(settings)}}, upsert=True
    )


def announced_base(documents: Documents, settings: Settings) -> str:
    if settings.public_base_url:
        return settings.public_base_url
    doc = documents.collection("auth_meta").find_one({"_id": "server"})
    return str(doc["fhir_base"]) if doc and doc.get("fhir_base") else fhir_base(settings)
