"""EHR launch contexts (App Launch 2.2 §launch-app-ehr-launch): the EHR creates one through the admin API
(or `fhir-server launch`) and launches the app with its opaque id as `launch`; the authorization request
carries it back and the token gets the context's patient."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fhir_server.security.oauth.expiring import expires_in, live, now
from fhir_server.storage.documents import Documents

LAUNCH_LIFETIME_SECONDS = 3600


@dataclass(frozen=True)
class LaunchContext:
    launch: str
    patient: str | None
    client_id: str | None  # when set, only this client may use the launch


class LaunchContexts:
    def __init__(self, documents: Documents) -> None:
        self._launches = documents.collection("auth_launches")

    def create(self, patient: str | None, client_id: str | None = None) -> LaunchContext:
        launch = secrets.token_urlsafe(24)
        self._launches.insert_one(
            {
                "_id": launch,
                "patient": patient,
                "client_id": client_id,
                "created": now(),
                "expires": expires_in(LAUNCH_LIFETIME_SECONDS),
            }
        )
        return LaunchContext(launch, patient, client_id)

    def resolve(self, launch: str, client_id: str) -> LaunchContext | None:
        doc = self._launches.find_one(live({"_id": launch}))
        if doc is None or (doc.get("client_id") and doc["client_id"] != client_id):
            return None
        return LaunchContext(launch, doc.get("patient"), doc.get("client_id"))
