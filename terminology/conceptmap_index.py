"""In-memory index of one R4 ConceptMap for forward and reverse `$translate`."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from terminology.code_keys import CodeKey
from terminology.results import TranslateMatch

# In a reverse translation the roles of source and target swap, so a one-directional
# equivalence has to be read from the other side.
_REVERSED_EQUIVALENCE = {
    "wider": "narrower",
    "narrower": "wider",
    "subsumes": "specializes",
    "specializes": "subsumes",
}
# Per R4 $translate, these equivalences are reported as matches but do not make result true.
NON_MATCHING_EQUIVALENCES = frozenset({"unmatched", "disjoint"})


@dataclass(frozen=True, slots=True)
class _Mapping:
    source_code: str
    source_display: str | None
    target_code: str | None
    target_display: str | None
    equivalence: str
    comment: str | None


@dataclass(frozen=True, slots=True)
class _Group:
    source: str
    source_version: str | None
    target: str
    target_version: str | None
    by_source: dict[str, list[_Mapping]]
    by_target: dict[str, list[_Mapping]]
    unmapped: dict[str, Any] | None


class ConceptMapIndex:
    def __init__(self, resource: dict[str, Any], key_for: Callable[[str], CodeKey]) -> None:
        self.resource = resource
        self.url: str = resource.get("url", "")
        self.source_value_set: str | None = resource.get("sourceCanonical") or resource.get("sourceUri")
        self.target_value_set: str | None = resource.get("targetCanonical") or resource.get("targetUri")
        self._key_for = key_for
        self._groups = [_index_group(group, key_for) for group in resource.get("group", [])]

    @property
    def source_systems(self) -> frozenset[str]:
        return frozenset(group.source for group in self._groups)

    @property
    def target_systems(self) -> frozenset[str]:
        return frozenset(group.target for group in self._groups)

    def forward(self, system: str, code: str, target_system: str | None) -> list[TranslateMatch]:
        matches: list[TranslateMatch] = []
        for group in self._groups:
            if group.source != system or (target_system and group.target != target_system):
                continue
            mappings = group.by_source.get(self._key_for(system)(code), [])
            matches.extend(
                self._match(
                    m.target_code,
                    m.target_display,
                    group.target,
                    group.target_version,
                    m.equivalence,
                    m.comment,
                )
                for m in mappings
            )
            if not mappings and group.unmapped:
                matches.extend(self._unmapped(group, code))
        return matches

    def reverse(self, system: str, code: str, source_system: str | None) -> list[TranslateMatch]:
        matches: list[TranslateMatch] = []
        for group in self._groups:
            if group.target != system or (source_system and group.source != source_system):
                continue
            for m in group.by_target.get(self._key_for(system)(code), []):
                equivalence = _REVERSED_EQUIVALENCE.get(m.equivalence, m.equivalence)
                matches.append(
                    self._match(
                        m.source_code,
                        m.source_display,
                        group.source,
                        group.source_version,
                        equivalence,
                        m.comment,
                    )
                )
        return matches

    def _unmapped(self, group: _Group, code: str) -> list[TranslateMatch]:
        assert group.unmapped is not None
        mode = group.unmapped.get("mode")
        if mode == "provided":
            return [self._match(code, None, group.target, group.target_version, "equal", None)]
        if mode == "fixed" and group.unmapped.get("code"):
            return [
                self._match(
                    group.unmapped["code"],
                    group.unmapped.get("display"),
                    group.target,
                    group.target_version,
                    "inexact",
                    None,
                )
            ]
        # "other-map" would chain into another map; not needed by the shipped content.
        return []

    def _match(
        self,
        code: str | None,
        display: str | None,
        system: str,
        version: str | None,
        equivalence: str,
        comment: str | None,
    ) -> TranslateMatch:
        concept: dict[str, Any] = {"system": system}
        if version:
            concept["version"] = version
        if code:
            concept["code"] = code
        if display:
            concept["display"] = display
        return TranslateMatch(
            equivalence=equivalence, concept=concept, source=self.url or None, comment=comment
        )


def _index_group(group: dict[str, Any], key_for: Callable[[str], CodeKey]) -> _Group:
    source, target = group.get("source", ""), group.get("target", "")
    source_key, target_key = key_for(source), key_for(target)
    by_source: dict[str, list[_Mapping]] = {}
    by_target: dict[str, list[_Mapping]] = {}
    for element in group.get("element", []):
        code = element.get("code")
        if not code:
            continue
        for target_entry in element.get("target", []):
            mapping = _Mapping(
                source_code=code,
                source_display=element.get("display"),
                target_code=target_entry.get("code"),
                target_display=target_entry.get("display"),
                equivalence=target_entry.get("equivalence", "equivalent"),
                comment=target_entry.get("comment"),
            )
            by_source.setdefault(source_key(code), []).append(mapping)
            if mapping.target_code:
                by_target.setdefault(target_key(mapping.target_code), []).append(mapping)
    return _Group(
        source=source,
        source_version=group.get("sourceVersion"),
        target=target,
        target_version=group.get("targetVersion"),
        by_source=by_source,
        by_target=by_target,
        unmapped=group.get("unmapped"),
    )
