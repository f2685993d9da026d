"""Encryption of SHL files (spec §"Encrypting and decrypting files"): JWE compact serialization with
`alg: dir`, `enc: A256GCM`, `cty` = the file's content type, and `zip: DEF` (raw DEFLATE, RFC 1951) for
compressible content. joserfc draws a fresh 96-bit IV for every encryption.
"""

from __future__ import annotations

from joserfc import jwe
from joserfc.jwk import OctKey

_COMPRESSIBLE = {"application/fhir+json", "application/smart-health-card"}


def encrypt_file(key: bytes, content_type: str, content: bytes) -> str:
    header = {"alg": "dir", "enc": "A256GCM", "cty": content_type}
    if content_type in _COMPRESSIBLE:
        header["zip"] = "DEF"
    return jwe.encrypt_compact(header, content, OctKey.import_key(key))


def decrypt_file(key: bytes, token: str) -> bytes:
    plaintext = jwe.decrypt_compact(token, OctKey.import_key(key)).plaintext
    assert plaintext is not None
    return plaintext
