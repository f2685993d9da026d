"""In-memory index of one CodeSystem resource, built once for constant-time code lookups."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from terminology.code_keys import CodeKey, key_function
from terminology.results import ConceptProperty, Designation

_PROPERTY_VALUE_TYPES = ("Code", "Coding", "String", "Integer", "Boolean", "DateTime", "Decimal")


@dataclass(frozen=True, slots=True)
class ConceptRecord:
    code: str
    display: str | None
    definition: str | None
    designations: tuple[Designation, ...]
    properties: tuple[ConceptProperty, ...]
    parent: str | None

    def accepts_display(self, display: str) -> bool:
        """Displays compare ignoring case and repeated whitespace; synonyms are acceptable too."""
        wanted = _normalise_display(display)
        candidates = [self.display, *(designation.value for designation in self.designations)]
        return any(_normalise_display(c) == wanted for c in candidates if c)


def _normalise_display(text: str) -> str:
    return " ".join(text.split()).casefold()


class CodeSystemIndex:
    def __init__(self, resource: dict[str, Any]) -> None:
        self.resource = resource
        self.url: str = resource["url"]
        self.version: str | None = resource.get("version")
        self.name: str = resource.get("name") or resource.get("title") or self.url
        self.content: str = resource.get("content", "complete")
        self.key: CodeKey = key_function(self.url, resource)
        property_types = {p["code"]: p.get("description") for p in resource.get("property", [])}
        self._concepts: dict[str, ConceptRecord] = {}
        self._ordered: list[ConceptRecord] = []
        for record in _flatten(resource.get("concept", []), None, property_types):
            self._concepts.setdefault(self.key(record.code), record)
            self._ordered.append(record)

    @property
    def is_complete(self) -> bool:
        return self.content == "complete"

    def find(self, code: str) -> ConceptRecord | None:
        return self._concepts.get(self.key(code))

    def concepts(self) -> list[ConceptRecord]:
        return list(self._ordered)


def _flatten(
    concepts: list[dict[str, Any]], parent: str | None, property_descriptions: dict[str, str | None]
) -> Iterator[ConceptRecord]:
    for concept in concepts:
        yield ConceptRecord(
            code=concept["code"],
            display=concept.get("display"),
            definition=concept.get("definition"),
            designations=tuple(
                Designation(value=d["value"], language=d.get("language"), use=d.get("use"))
                for d in concept.get("designation", [])
            ),
            properties=tuple(_properties(concept, property_descriptions)),
            parent=parent,
        )
        yield from _flatten(concept.get("concept", []), concept["code"], property_descriptions)


def _properties(
    concept: dict[str, Any], property_descriptions: dict[str, str | None]
) -> Iterator[ConceptProperty]:
    for prop in concept.get("property", []):
        for value_type in _PROPERTY_VALUE_TYPES:
            if f"value{value_type}" in prop:
                yield ConceptProperty(
                    code=prop["code"],
                    value=prop[f"value{value_type}"],
                    value_type=value_type,
                    description=property_descriptions.get(prop["code"]),
                )
                break
