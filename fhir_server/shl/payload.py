"""The link itself (SHL IG STU1 §"Construct a SMART Health Link"): minified JSON, base64url without
padding, behind `shlink:/`, optionally behind a viewer URL ending in `#`."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson

PREFIX = "shlink:/"
FLAG_ORDER = "LPU"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sorted_flags(flags: set[str]) -> str:
    """Flags are single letters in alphabetical order; P and U never together (spec §flag)."""
    if not flags <= set(FLAG_ORDER) or {"P", "U"} <= flags:
        raise ValueError(f"invalid SHL flags {sorted(flags)}")
    return "".join(f for f in FLAG_ORDER if f in flags)


@dataclass(frozen=True)
class LinkPayload:
    url: str  # the manifest URL (or, with U, the single encrypted file), <= 128 characters
    key: bytes  # 32 bytes, the AES-256-GCM key of every file of the link
    flags: str = ""
    exp: int | None = None  # epoch seconds, a hint to the receiver
    label: str | None = None  # <= 80 characters

    def text(self) -> str:
        """`shlink:/` + base64url(minified JSON)."""
        body: dict[str, object] = {"url": self.url, "key": b64url(self.key)}
        if self.exp is not None:
            body["exp"] = self.exp
        if self.flags:
            body["flag"] = self.flags
        if self.label:
            body["label"] = self.label
        body["v"] = 1
        return PREFIX + b64url(orjson.dumps(body))


def with_viewer(viewer_url: str, link: str) -> str:
    """`https://viewer.example/#shlink:/…`: the fragment never reaches a server (spec §viewer prefix)."""
    return f"{viewer_url.split('#', 1)[0]}#{link}"
