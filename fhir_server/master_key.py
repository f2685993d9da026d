"""The server master key that seals, at rest, the secrets the database must keep: each SMART Health Link's
AES key and the content snapshot of links without the L flag, and the password of each hospital's Orthanc.

The key lives in a file in the data directory (`master.key`, mode 0600), never in the database, so a
database dump or backup alone yields no link key and no PACS password. The manifest and file endpoints never
return it nor the link keys: the link key travels only in the link itself (SHL IG STU1 §"Key" — the key is
not sent to the server by receivers), and the server needs its own copy only to re-encrypt L-flag content at
fetch time. Sealing is JWE `dir` + `A256GCM` (joserfc).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from joserfc import jwe
from joserfc.jwk import OctKey

FILE_NAME = "master.key"
# Its name before it also sealed Orthanc passwords; taken over on first start.
_PREVIOUS_NAME = "shl-master.key"


class MasterKey:
    def __init__(self, key: bytes) -> None:
        self._key = OctKey.import_key(key)

    @classmethod
    def load_or_create(cls, data_dir: Path) -> MasterKey:
        path = data_dir / FILE_NAME
        data_dir.mkdir(parents=True, exist_ok=True)
        previous = data_dir / _PREVIOUS_NAME
        if not path.exists() and previous.exists():
            # A link, not a rename: concurrent workers may all try; every one of them ends with the key.
            with contextlib.suppress(FileExistsError):
                os.link(previous, path)
            previous.unlink(missing_ok=True)
        if not path.exists():
            # Write a complete key under a private name, then link it into place: the link either creates
            # the file whole or finds one already there, so concurrent workers never read a half-written key.
            tmp = data_dir / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return cls(path.read_bytes())

    def seal(self, data: bytes) -> str:
        return jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM"}, data, self._key)

    def open(self, sealed: str) -> bytes:
        plaintext = jwe.decrypt_compact(sealed, self._key).plaintext
        assert plaintext is not None
        return plaintext
