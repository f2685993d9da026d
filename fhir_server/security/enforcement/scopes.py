"""SMART scopes (App Launch 2.2, "Scopes and Launch Context", §scopes-for-requesting-fhir-resources).

One parser for v1 and v2 resource scopes, `context/Type.permissions[?param=value&…]`:
- v2 permissions are a non-empty subset of `cruds` written in that order (`c` create, `r` read/vread/
  instance history, `u` update/patch, `d` delete, `s` search and type/system history);
- v1 `read` = `rs`, `write` = `cud`, `*` = `cruds` (write never implies read).
Anything else (letters out of order or repeated, unknown letters, unknown contexts) is not a resource scope:
it is ignored, so a malformed scope can only ever grant less, never more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import parse_qsl

Context = Literal["patient", "user", "system"]
Letter = Literal["c", "r", "u", "d", "s"]
_CONTEXTS: tuple[Context, ...] = ("patient", "user", "system")

ALL_TYPES = "*"
_V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_V2_PERMISSIONS = re.compile(r"^c?r?u?d?s?$")
_RESOURCE_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]{0,63})\.([a-z*]+)(?:\?(.+))?$")

# Non-resource scopes the server understands (§scopes-for-requesting-context-data, §scopes-for-requesting-
# identity-data, §scopes-for-requesting-a-refresh-token). `admin` is this server's own: the administration
# API and AuditEvent; only admin users and CLI-minted tokens ever receive it.
LAUNCH = "launch"
LAUNCH_PATIENT = "launch/patient"
OPENID = "openid"
FHIR_USER = "fhirUser"
OFFLINE_ACCESS = "offline_access"
ONLINE_ACCESS = "online_access"
ADMIN = "admin"
CONTEXT_SCOPES = frozenset({LAUNCH, LAUNCH_PATIENT, OPENID, FHIR_USER, OFFLINE_ACCESS, ONLINE_ACCESS, ADMIN})


@dataclass(frozen=True)
class ResourceScope:
    context: Context
    resource_type: str  # a resource type, or "*"
    permissions: frozenset[str]
    filters: tuple[tuple[str, str], ...] = ()

    def grants(self, letter: str, resource_type: str) -> bool:
        return letter in self.permissions and self.resource_type in (ALL_TYPES, resource_type)

    def covers(self, other: ResourceScope) -> bool:
        """Is every access `other` grants also granted by this scope? (A filter only ever narrows.)"""
        return (
            self.context == other.context
            and self.resource_type in (ALL_TYPES, other.resource_type)
            and other.permissions <= self.permissions
            and set(self.filters) <= set(other.filters)
        )


def parse_resource_scope(text: str) -> ResourceScope | None:
    match = _RESOURCE_SCOPE.match(text)
    if match is None:
        return None
    context, resource_type, permissions, query = match.groups()
    if context not in _CONTEXTS:  # never: the pattern admits only these; this tells the type checker
        return None
    letters = _V1_PERMISSIONS.get(permissions)
    if letters is None:
        if not _V2_PERMISSIONS.match(permissions):
            return None
        letters = permissions
    filters: tuple[tuple[str, str], ...] = ()
    if query is not None:
        try:
            pairs = parse_qsl(query, keep_blank_values=False, strict_parsing=True)
        except ValueError:
            return None
        filters = tuple(sorted(pairs))
    return ResourceScope(context, resource_type, frozenset(letters), filters)


@dataclass(frozen=True)
class ScopeSet:
    """A granted or requested scope string, split into resource scopes and context scopes."""

    text: str
    resource: tuple[ResourceScope, ...]
    other: frozenset[str]

    @classmethod
    def parse(cls, text: str | None) -> ScopeSet:
        return _parse(text or "")

    def has(self, scope: str) -> bool:
        return scope in self.other

    def covers(self, scope: str) -> bool:
        if scope in CONTEXT_SCOPES:
            return scope in self.other
        wanted = parse_resource_scope(scope)
        return wanted is not None and any(mine.covers(wanted) for mine in self.resource)

    def narrow(self, requested: str | None) -> str:
        """The requested scopes this set covers, in the requested order; unknown or malformed ones dropped."""
        return join(s for s in split(requested) if self.covers(s))

    def contexts(self) -> set[str]:
        return {s.context for s in self.resource}


def split(scope: str | None) -> list[str]:
    seen: dict[str, None] = {}
    for item in (scope or "").split():
        seen.setdefault(item, None)
    return list(seen)


def join(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


@lru_cache(maxsize=4096)
def _parse(text: str) -> ScopeSet:
    resource: list[ResourceScope] = []
    other: set[str] = set()
    for item in split(text):
        if item in CONTEXT_SCOPES:
            other.add(item)
            continue
        parsed = parse_resource_scope(item)
        if parsed is not None:
            resource.append(parsed)
    return ScopeSet(join(split(text)), tuple(resource), frozenset(other))
