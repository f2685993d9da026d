"""Resolving a ValueSet's `compose` into an ordered, de-duplicated list of codes, once."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from terminology.code_keys import CodeKey
from terminology.codesystem_index import CodeSystemIndex
from terminology.errors import TerminologyError


@dataclass(frozen=True, slots=True)
class ExpansionEntry:
    system: str
    code: str
    display: str | None
    version: str | None = None


class ValueSetIndex:
    """The resolved members of one ValueSet with O(1) membership tests."""

    def __init__(
        self, resource: dict[str, Any], entries: list[ExpansionEntry], key_for: Callable[[str], CodeKey]
    ) -> None:
        self.resource = resource
        self.url: str = resource.get("url", "")
        self.entries: tuple[ExpansionEntry, ...] = tuple(entries)
        self._key_for = key_for
        self.systems: frozenset[str] = frozenset(entry.system for entry in entries)
        self._members = {(e.system, key_for(e.system)(e.code)): e for e in entries}

    def find(self, system: str, code: str) -> ExpansionEntry | None:
        return self._members.get((system, self._key_for(system)(code)))


ValueSetResolver = Callable[[str], list[ExpansionEntry]]


def compose_entries(
    resource: dict[str, Any],
    code_systems: Mapping[str, CodeSystemIndex],
    resolve_value_set: ValueSetResolver,
) -> list[ExpansionEntry]:
    """Members of a ValueSet per its compose; raises TerminologyError when that is impossible."""
    compose = resource.get("compose")
    label = resource.get("url") or resource.get("id") or "inline ValueSet"
    if not compose:
        raise TerminologyError("not-supported", f"ValueSet {label} has no compose to expand")
    included = _dedupe(
        entry
        for include in compose.get("include", [])
        for entry in _component_entries(include, label, code_systems, resolve_value_set)
    )
    excluded = {
        (entry.system, entry.code)
        for exclude in compose.get("exclude", [])
        for entry in _component_entries(exclude, label, code_systems, resolve_value_set)
    }
    return [entry for entry in included if (entry.system, entry.code) not in excluded]


def _component_entries(
    component: dict[str, Any],
    label: str,
    code_systems: Mapping[str, CodeSystemIndex],
    resolve_value_set: ValueSetResolver,
) -> list[ExpansionEntry]:
    if component.get("filter"):
        raise TerminologyError(
            "not-supported", f"ValueSet {label}: compose filters are not supported by the local service"
        )
    entries: list[ExpansionEntry] | None = None
    system = component.get("system")
    if system:
        entries = _system_entries(component, system, label, code_systems)
    # Several value sets (and a system) in one component are intersected, per R4 compose rules.
    for value_set_url in component.get("valueSet", []):
        others = resolve_value_set(value_set_url)
        if entries is None:
            entries = list(others)
        else:
            other_keys = {(entry.system, entry.code) for entry in others}
            entries = [entry for entry in entries if (entry.system, entry.code) in other_keys]
    return entries or []


def _system_entries(
    component: dict[str, Any], system: str, label: str, code_systems: Mapping[str, CodeSystemIndex]
) -> list[ExpansionEntry]:
    code_system = code_systems.get(system)
    listed = component.get("concept")
    if listed is None:
        if code_system is None:
            raise TerminologyError(
                "not-found", f"ValueSet {label} includes all of {system}, which is not available"
            )
        return [
            ExpansionEntry(system, record.code, record.display, code_system.version)
            for record in code_system.concepts()
        ]
    entries = []
    for concept in listed:
        record = code_system.find(concept["code"]) if code_system else None
        if code_system is not None and record is None and code_system.is_complete:
            raise TerminologyError(
                "invalid", f"ValueSet {label} lists code {concept['code']!r} that {system} does not define"
            )
        display = concept.get("display") or (record.display if record else None)
        version = code_system.version if code_system else None
        entries.append(ExpansionEntry(system, concept["code"], display, version))
    return entries


def _dedupe(entries: Iterable[ExpansionEntry]) -> list[ExpansionEntry]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for entry in entries:
        if (entry.system, entry.code) not in seen:
            seen.add((entry.system, entry.code))
            unique.append(entry)
    return unique
