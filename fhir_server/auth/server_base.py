"""The FHIR base a server on this database last announced, so that `fhir-server token` mints tokens for
the right audience without being told (collection `auth_meta`)."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from fhir_server.settings import Settings


def local_base(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return settings.public_base_url or f"http://{host}:{settings.port}/fhir"


def record_server_base(db: Database[dict[str, Any]], settings: Settings) -> None:
    db.get_collection("auth_meta").update_one(
        {"_id": "server"}, {"$set": {"fhir_base": local_base(settings)}}, upsert=True
    )


def announced_base(db: Database[dict[str, Any]], settings: Settings) -> str:
    if settings.public_base_url:
        return settings.public_base_url
    doc = db.get_collection("auth_meta").find_one({"_id": "server"})
    return str(doc["fhir_base"]) if doc and doc.get("fhir_base") else local_base(settings)
