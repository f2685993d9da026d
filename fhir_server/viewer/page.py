"""The viewer's HTML shell and its Content-Security-Policy.

OHIF's build assumes it is served from `/`: its index.html names its assets `/…` and sets
`window.PUBLIC_URL = "/"`; its code chunks are loaded from webpack's public path, which install.py sets to
`/viewer/` in the bundles. Here the shell is rewritten to `/viewer/`, its service worker left out (a worker
caching the viewer would outlive an update and serve it from cache), and the CSP allows exactly its inline
scripts (by hash), WebAssembly compilation (`'wasm-unsafe-eval'`, for the image codecs) and this origin —
the data source is our own DICOMweb, so no other origin is ever needed.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PREFIX = "/viewer/"
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)
_SERVICE_WORKER = re.compile(r'<script[^>]*src="/init-service-worker\.js"[^>]*>\s*</script>')


@dataclass(frozen=True)
class Shell:
    html: bytes
    content_security_policy: str


def shell(index: Path) -> Shell:
    stat = index.stat()
    return _shell(str(index), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _shell(path: str, _mtime: int, _size: int) -> Shell:
    html = Path(path).read_text(encoding="utf-8")
    html = _SERVICE_WORKER.sub("", html)
    html = html.replace('window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{PREFIX}"')
    html = re.sub(r'(href|src)="/(?!/)', rf'\1="{PREFIX}', html)
    hashes = sorted({_hash(script) for script in _INLINE_SCRIPT.findall(html)})
    return Shell(html.encode(), content_security_policy(hashes))


def content_security_policy(script_hashes: list[str]) -> str:
    scripts = " ".join(["'self'", "'wasm-unsafe-eval'", *(f"'{h}'" for h in script_hashes)])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            # React and the viewer's UI kit set element styles at run time.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "media-src 'self' blob:",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        ]
    )


def _hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
