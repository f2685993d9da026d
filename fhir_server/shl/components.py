"""The SHL objects built once per process (app.state.shl) and how links turn into text and files.

Every file a link serves is built with a SecuredStore for its creator's access (fhir_server.shl.creator),
never with the caller's (the manifest service has none) nor with an unrestricted engine.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import HTTPConnection

from fhir_server.master_key import MasterKey
from fhir_server.security.access.store import SecuredStore, store_for
from fhir_server.security.accounts.passwords import hash_secret
from fhir_server.security.oauth.revocation import Revocations
from fhir_server.security.oauth.signing_keys import KeyStore
from fhir_server.security.oauth.urls import Urls
from fhir_server.settings import Settings
from fhir_server.shl import content
from fhir_server.shl.creator import Creator
from fhir_server.shl.crypto import encrypt_file
from fhir_server.shl.options import LinkOptions
from fhir_server.shl.payload import LinkPayload, sorted_flags, with_viewer
from fhir_server.shl.store import Link, LinkStore
from fhir_server.storage.connection import DatabaseConnection

MANIFEST_PATH = "/shl/m/"
FILE_PATH = "/shl/f/"
VIEWER_PATH = "/shl/viewer"
# Link.status() plus this one: the creator's user or client was deleted or disabled, or the link was
# stored without its creator's access. Such a link grants nothing (404), like a revoked one.
SUSPENDED = "suspended"


@dataclass
class ShlComponents:
    settings: Settings
    store: LinkStore
    master: MasterKey
    revocations: Revocations

    def origin(self, fhir_base: str) -> str:
        return fhir_base.rsplit("/", 1)[0]

    def viewer_url(self, fhir_base: str) -> str:
        return self.settings.shl_viewer_url or self.origin(fhir_base) + VIEWER_PATH

    def create(
        self,
        store: SecuredStore,
        creator: Creator,
        fhir_base: str,
        patient: str,
        study: str | None,
        options: LinkOptions,
        purpose: str = "operation",
    ) -> Link:
        """A new link; `store` is the creating request's (its access is the creator's)."""
        flags = sorted_flags(options.flags)
        snapshot = None
        if "L" not in flags:
            bundle = content.patient_bundle(
                store, fhir_base, patient, study, audit="shared as a SMART Health Link (snapshot)"
            )
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
                "creator": creator.access.subject,
                "creator_access": creator.to_doc(),
                "creator_key": creator.key,
                "purpose": purpose,
                "revoked": None,
            }
        )

    def creator(self, link: Link) -> Creator | None:
        """The creator's access while it still holds (None: the link grants nothing)."""
        creator = Creator.from_doc(link.doc.get("creator_access"))
        if creator is None or creator.revoked(self.revocations):
            return None
        return creator

    def status(self, link: Link) -> str:
        """active, revoked, expired, exhausted or suspended; only an active link is served."""
        status = link.status()
        if status == "active" and self.creator(link) is None:
            return SUSPENDED
        return status

    def serving(self, link: Link) -> Creator | None:
        """The creator whose access an active link's files are built with; None when the link is not
        active (status() is not "active"), so that it is served nothing."""
        return self.creator(link) if link.status() == "active" else None

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
        self,
        link: Link,
        creator: Creator,
        content_types: Sequence[str],
        request: HTTPConnection,
        recipient: str,
    ) -> list[str]:
        """The files as fresh JWEs, one per content type: content current as of now for L links, the snapshot
        otherwise; `creator` is serving(link) (the caller has checked that the link is active). The link's
        live Bundle is built at most once, however many of the files need it."""
        fhir_base = fhir_base_of(request, self.settings)
        address = request.client.host if request.client else None
        store = store_for(request.app.state, creator.access, "operation", address, request_base=fhir_base)
        snapshot = link.doc.get("snapshot")
        # Shown (and so audited) only as the L link's file; the token's scopes are merely sized by it.
        audit = None
        if content.FHIR_JSON in content_types and not snapshot:
            audit = f"SMART Health Link {link.id} for recipient {recipient[:200]!r}"
        built: list[dict[str, Any]] = []

        def live() -> dict[str, Any]:
            if not built:
                built.append(content.patient_bundle(store, fhir_base, link.patient, link.study, audit))
            return built[0]

        return [
            encrypt_file(
                self.key(link), content_type, self._data(link, content_type, live, fhir_base, request)
            )
            for content_type in content_types
        ]

    def _data(
        self,
        link: Link,
        content_type: str,
        live: Callable[[], dict[str, Any]],
        fhir_base: str,
        request: HTTPConnection,
    ) -> bytes:
        snapshot = link.doc.get("snapshot")
        if content_type != content.API_ACCESS:
            return self.master.open(snapshot) if snapshot else orjson.dumps(live())
        ids = content.shared(live())
        if snapshot:
            # A snapshot link's token opens what the snapshot shows and the creator still may read.
            frozen = content.shared(orjson.loads(self.master.open(snapshot)))
            ids = {t: found & frozen.get(t, set()) for t, found in ids.items()}
        access = content.api_access(
            keys_of(request),
            fhir_base,
            link.id,
            link.patient,
            link.study,
            ids,
            self.settings.shl_image_token_seconds,
        )
        self.store.remember_token(link.id, access.pop("jti"), access.pop("exp"))
        return orjson.dumps(access)


def start(settings: Settings, connection: DatabaseConnection) -> ShlComponents:
    store = LinkStore(connection.documents)
    master = MasterKey.load_or_create(settings.data_dir)
    return ShlComponents(settings, store, master, Revocations(connection.documents))


def shl_of(request: HTTPConnection) -> ShlComponents:
    shl: ShlComponents = request.app.state.shl
    return shl


def fhir_base_of(request: HTTPConnection, settings: Settings) -> str:
    return Urls.for_request(request, settings).fhir_base


def keys_of(request: HTTPConnection) -> KeyStore:
    keys: KeyStore = request.app.state.auth.keys
    return keys
