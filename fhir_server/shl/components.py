"""The SHL objects built once per process (app.state.shl) and how links turn into text and files."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import orjson
from starlette.requests import HTTPConnection

from fhir_server.auth.keys import KeyStore
from fhir_server.auth.passwords import hash_secret
from fhir_server.auth.urls import Urls
from fhir_server.db import DatabaseConnection
from fhir_server.master_key import MasterKey
from fhir_server.search.engine import SearchEngine
from fhir_server.settings import Settings
from fhir_server.shl import content
from fhir_server.shl.crypto import encrypt_file
from fhir_server.shl.options import LinkOptions
from fhir_server.shl.payload import LinkPayload, sorted_flags, with_viewer
from fhir_server.shl.store import Link, LinkStore
from fhir_server.storage.mongo import MongoRepository

MANIFEST_PATH = "/shl/m/"
FILE_PATH = "/shl/f/"
VIEWER_PATH = "/shl/viewer"


@dataclass
class ShlComponents:
    settings: Settings
    store: LinkStore
    master: MasterKey

    def origin(self, fhir_base: str) -> str:
        return fhir_base.rsplit("/", 1)[0]

    def viewer_url(self, fhir_base: str) -> str:
        return self.settings.shl_viewer_url or self.origin(fhir_base) + VIEWER_PATH

    def create(
        self,
        engine: SearchEngine,
        fhir_base: str,
        patient: str,
        study: str | None,
        options: LinkOptions,
        creator: str,
        purpose: str = "operation",
    ) -> Link:
        flags = sorted_flags(options.flags)
        snapshot = None
        if "L" not in flags:
            bundle = content.patient_bundle(engine, fhir_base, patient, study)
            snapshot = self.master.seal(orjson.dumps(bundle))
        attempts = self.settings.shl_passcode_attempts if options.passcode is not None else None
        return self.store.insert(
            {
                "key": self.master.seal(secrets.token_bytes(32)),
                "patient": patient,
                "study": study,
                "flags": flags,
                "label": options.label,
                "passcode": hash_secret(options.passcode) if options.passcode is not None else None,
                "attempts": attempts,
                "expires": options.expires,
                "image_access": options.image_access,
                "snapshot": snapshot,
                "fhir_base": fhir_base,
                "creator": creator,
                "purpose": purpose,
                "revoked": None,
            }
        )

    def key(self, link: Link) -> bytes:
        return self.master.open(link.doc["key"])

    def text(self, link: Link) -> str:
        expires = link.expires
        return LinkPayload(
            url=self.origin(link.doc["fhir_base"]) + MANIFEST_PATH + link.doc["manifest"],
            key=self.key(link),
            flags=link.flags,
            exp=int(expires.timestamp()) if expires else None,
            label=link.doc.get("label"),
        ).text()

    def viewer_text(self, link: Link) -> str:
        return with_viewer(self.viewer_url(link.doc["fhir_base"]), self.text(link))

    def content_types(self, link: Link) -> list[str]:
        return [content.FHIR_JSON] + ([content.API_ACCESS] if link.doc.get("image_access") else [])

    def encrypted(
        self, link: Link, content_type: str, engine: SearchEngine, keys: KeyStore, fhir_base: str
    ) -> str:
        """The file as a fresh JWE: content current as of now for L links, the snapshot otherwise."""
        if content_type == content.API_ACCESS:
            access = content.api_access(
                keys, fhir_base, link.id, link.patient, self.settings.shl_image_token_seconds
            )
            self.store.remember_token(link.id, access.pop("jti"), access.pop("exp"))
            data = orjson.dumps(access)
        elif link.doc.get("snapshot"):
            data = self.master.open(link.doc["snapshot"])
        else:
            data = orjson.dumps(content.patient_bundle(engine, fhir_base, link.patient, link.study))
        return encrypt_file(self.key(link), content_type, data)


def start(settings: Settings, connection: DatabaseConnection) -> ShlComponents:
    store = LinkStore(connection.db)
    store.ensure_indexes()
    return ShlComponents(settings, store, MasterKey.load_or_create(settings.data_dir))


def shl_of(request: HTTPConnection) -> ShlComponents:
    shl: ShlComponents = request.app.state.shl
    return shl


def fhir_base_of(request: HTTPConnection, settings: Settings) -> str:
    return Urls.for_request(request, settings).fhir_base


def engine_of(request: HTTPConnection) -> SearchEngine:
    services = request.app.state.services
    repository: MongoRepository = services.repository
    return SearchEngine.configured(repository, services.settings, fhir_base_of(request, services.settings))


def keys_of(request: HTTPConnection) -> KeyStore:
    keys: KeyStore = request.app.state.auth.keys
    return keys
