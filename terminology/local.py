"""`LocalTerminology`: the TerminologyService answered from the shipped JSON, entirely in memory."""

import contextlib
import copy
from collections.abc import Iterable, Sequence
from typing import Any

from terminology.code_keys import CodeKey, key_function
from terminology.code_validation import ValidationTarget, codings_to_validate, validate_codings
from terminology.codesystem_index import CodeSystemIndex, ConceptRecord
from terminology.conceptmap_index import NON_MATCHING_EQUIVALENCES, ConceptMapIndex
from terminology.errors import ShippedDataError, TerminologyError
from terminology.expansion import build_expansion
from terminology.loader import check_unique, load_shipped_resources, validate_resource
from terminology.results import (
    ConceptProperty,
    LookupResult,
    TranslateMatch,
    TranslateResult,
    ValidationResult,
)
from terminology.valueset_index import ExpansionEntry, ValueSetIndex, compose_entries


class LocalTerminology:
    """Everything is indexed at construction so that `validate_code` is a few dict look-ups."""

    def __init__(self, resources: Iterable[dict[str, Any]] | None = None) -> None:
        if resources is None:
            loaded = load_shipped_resources()
        else:
            loaded = tuple(resources)
            for resource in loaded:
                validate_resource(resource, f"{resource.get('resourceType')}/{resource.get('id')}")
            check_unique(loaded)
        self._resources = loaded
        self._code_systems = {
            r["url"]: CodeSystemIndex(r) for r in loaded if r["resourceType"] == "CodeSystem"
        }
        self._keys: dict[str, CodeKey] = {}
        self._value_set_resources = {r["url"]: r for r in loaded if r["resourceType"] == "ValueSet"}
        # A broken ValueSet must not take the whole service down: its error is kept and raised
        # only to callers that actually use it.
        self._value_sets: dict[str, ValueSetIndex | TerminologyError] = {}
        for url in self._value_set_resources:
            with contextlib.suppress(TerminologyError):  # recorded in self._value_sets
                self._resolve_value_set(url, ())
        self._concept_maps = {
            r["url"]: ConceptMapIndex(r, self._key_for) for r in loaded if r["resourceType"] == "ConceptMap"
        }

    # --- TerminologyService -------------------------------------------------------------------

    def lookup(
        self,
        system: str,
        code: str,
        version: str | None = None,
        display_language: str | None = None,
        properties: Sequence[str] | None = None,
    ) -> LookupResult | None:
        code_system = self._code_system(system, version)
        record = code_system.find(code)
        if record is None:
            return None
        wanted = set(properties) if properties else None

        def requested(name: str) -> bool:
            return wanted is None or name in wanted

        extra = [ConceptProperty("parent", record.parent, "Code")] if record.parent else []
        return LookupResult(
            system=code_system.url,
            code=record.code,
            name=code_system.name,
            display=_display_in_language(record, display_language),
            version=code_system.version,
            definition=record.definition if requested("definition") else None,
            designations=record.designations if requested("designation") else (),
            properties=tuple(p for p in (*record.properties, *extra) if requested(p.code)),
        )

    def validate_code(
        self,
        *,
        url: str | None = None,
        value_set: dict[str, Any] | None = None,
        system: str | None = None,
        code: str | None = None,
        display: str | None = None,
        coding: dict[str, Any] | None = None,
        codeable_concept: dict[str, Any] | None = None,
    ) -> ValidationResult:
        codings = codings_to_validate(system, code, display, coding, codeable_concept)
        target: ValidationTarget = None
        if value_set is not None:
            target = self._inline_value_set(value_set)
        elif url is not None:
            target = self._value_set_or_code_system(url)
        return validate_codings(target, codings, self._code_systems)

    def expand(
        self,
        url: str,
        filter: str | None = None,
        count: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        value_set = self._value_set(url)
        return build_expansion(value_set.resource, value_set.entries, filter, count, offset)

    def translate(
        self,
        *,
        system: str,
        code: str,
        url: str | None = None,
        concept_map: dict[str, Any] | None = None,
        source: str | None = None,
        target: str | None = None,
        target_system: str | None = None,
        reverse: bool = False,
    ) -> TranslateResult:
        maps = self._concept_maps_for(system, url, concept_map, source, target, reverse)
        matches: list[TranslateMatch] = []
        for concept_map_index in maps:
            if reverse:
                matches.extend(concept_map_index.reverse(system, code, target_system))
            else:
                matches.extend(concept_map_index.forward(system, code, target_system))
        result = any(m.equivalence not in NON_MATCHING_EQUIVALENCES for m in matches)
        return TranslateResult(result, _translate_message(system, code, matches, result), tuple(matches))

    def resources(self) -> list[dict[str, Any]]:
        # Copies, so that a caller decorating a resource (meta, text) cannot corrupt the indexes.
        return copy.deepcopy(list(self._resources))

    # --- resolution helpers -------------------------------------------------------------------

    def _key_for(self, system: str) -> CodeKey:
        key = self._keys.get(system)
        if key is None:
            code_system = self._code_systems.get(system)
            key = key_function(system, code_system.resource if code_system else None)
            self._keys[system] = key
        return key

    def _code_system(self, system: str, version: str | None = None) -> CodeSystemIndex:
        code_system = self._code_systems.get(system)
        if code_system is None:
            raise TerminologyError("not-found", f"CodeSystem {system} is not known to this server")
        if version and code_system.version and version != code_system.version:
            raise TerminologyError(
                "not-found",
                f"CodeSystem {system} version {version} is not available (have {code_system.version})",
            )
        return code_system

    def _value_set(self, url: str) -> ValueSetIndex:
        if url not in self._value_sets:
            raise TerminologyError("not-found", f"ValueSet {url} is not known to this server")
        indexed = self._value_sets[url]
        if isinstance(indexed, TerminologyError):
            raise indexed
        return indexed

    def _value_set_or_code_system(self, url: str) -> ValueSetIndex | CodeSystemIndex:
        if url in self._value_sets:
            return self._value_set(url)
        if url in self._code_systems:
            return self._code_systems[url]
        raise TerminologyError("not-found", f"No ValueSet or CodeSystem {url} is known to this server")

    def _resolve_value_set(self, url: str, in_progress: tuple[str, ...]) -> list[ExpansionEntry]:
        if url in self._value_sets:
            return list(self._value_set(url).entries)
        if url in in_progress:
            raise TerminologyError("invalid", f"ValueSet {url} includes itself: {' -> '.join(in_progress)}")
        resource = self._value_set_resources.get(url)
        if resource is None:
            raise TerminologyError("not-found", f"ValueSet {url} is not known to this server")
        try:
            entries = compose_entries(
                resource, self._code_systems, lambda ref: self._resolve_value_set(ref, (*in_progress, url))
            )
        except TerminologyError as exc:
            self._value_sets[url] = exc
            raise
        self._value_sets[url] = ValueSetIndex(resource, entries, self._key_for)
        return entries

    def _inline_value_set(self, value_set: dict[str, Any]) -> ValueSetIndex:
        try:
            validate_resource(value_set, "valueSet parameter", require_url=False)
        except ShippedDataError as exc:
            raise TerminologyError("invalid", str(exc)) from exc
        entries = compose_entries(value_set, self._code_systems, lambda ref: self._resolve_value_set(ref, ()))
        return ValueSetIndex(value_set, entries, self._key_for)

    def _concept_maps_for(
        self,
        system: str,
        url: str | None,
        concept_map: dict[str, Any] | None,
        source: str | None,
        target: str | None,
        reverse: bool,
    ) -> list[ConceptMapIndex]:
        if concept_map is not None:
            try:
                validate_resource(concept_map, "conceptMap parameter", require_url=False)
            except ShippedDataError as exc:
                raise TerminologyError("invalid", str(exc)) from exc
            return [ConceptMapIndex(concept_map, self._key_for)]
        if url is not None:
            if url not in self._concept_maps:
                raise TerminologyError("not-found", f"ConceptMap {url} is not known to this server")
            return [self._concept_maps[url]]
        # Reverse translation reads the maps backwards, so source/target value sets swap roles.
        code_side, other_side = (target, source) if reverse else (source, target)
        candidates = []
        for index in self._concept_maps.values():
            systems = index.target_systems if reverse else index.source_systems
            code_value_set = index.target_value_set if reverse else index.source_value_set
            other_value_set = index.source_value_set if reverse else index.target_value_set
            if system not in systems:
                continue
            if code_side and code_side != code_value_set:
                continue
            if other_side and other_side != other_value_set:
                continue
            candidates.append(index)
        return candidates


def _display_in_language(record: ConceptRecord, language: str | None) -> str:
    if language:
        wanted = language.casefold()
        for designation in record.designations:
            if designation.language and designation.language.casefold().startswith(wanted):
                return designation.value
    return record.display or record.code


def _translate_message(system: str, code: str, matches: list[TranslateMatch], result: bool) -> str | None:
    if not matches:
        return f"No mapping found for code {code!r} from system {system}"
    if not result:
        return f"Code {code!r} from system {system} is explicitly unmatched"
    notes = [f"{m.concept.get('code')} ({m.equivalence}): {m.comment}" for m in matches if m.comment]
    return " | ".join(notes) or None
