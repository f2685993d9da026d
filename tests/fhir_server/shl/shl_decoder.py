"""An independent SMART Health Link receiver written from the SHL IG STU1 text (not the server's code):
base64url + JSON for the link, AES-256-GCM (cryptography) for the JWE, raw inflate (zlib, wbits=-15)."""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class ParsedLink:
    payload: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.payload["url"])

    @property
    def key(self) -> bytes:
        return b64d(self.payload["key"])

    @property
    def flags(self) -> str:
        return str(self.payload.get("flag", ""))


def parse_link(text: str) -> ParsedLink:
    """Viewer algorithm step 1: strip up to `#`, find `shlink:/`, decode, check the required fields."""
    text = text.split("#", 1)[-1]
    assert text.startswith("shlink:/"), text
    body = text[len("shlink:/") :]
    assert "=" not in body
    payload = json.loads(b64d(body))
    link = ParsedLink(payload)
    assert len(link.url) <= 128
    assert len(payload["key"]) == 43 and len(link.key) == 32
    assert len(payload.get("label", "")) <= 80
    flags = link.flags
    assert list(flags) == sorted(flags) and set(flags) <= set("LPU") and not {"P", "U"} <= set(flags)
    return link


def jwe_header(token: str) -> dict[str, Any]:
    return dict(json.loads(b64d(token.split(".")[0])))


def decrypt(token: str, key: bytes) -> tuple[dict[str, Any], bytes]:
    """RFC 7516 compact serialization, alg dir: AAD is the ASCII of the protected header segment."""
    protected, encrypted_key, iv, ciphertext, tag = token.split(".")
    header = jwe_header(token)
    assert header["alg"] == "dir" and header["enc"] == "A256GCM" and encrypted_key == ""
    assert len(b64d(iv)) == 12
    plaintext = AESGCM(key).decrypt(b64d(iv), b64d(ciphertext) + b64d(tag), protected.encode("ascii"))
    if header.get("zip") == "DEF":
        plaintext = zlib.decompress(plaintext, wbits=-15)
    return header, plaintext
