"""Extraction of index keys from a resource on write (the grammar is in `fhir_server.search.keys`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fhir_server.search import keys as k
from fhir_server.search.dates import Interval, parse_interval, period_interval
from fhir_server.search.normalize import fold, phonetic_codes
from fhir_server.search.paths import evaluate, top_level_elements
from fhir_server.search.references import normalize_reference
from fhir_server.search.registry import SearchParam, parameters_of
from fhir_server.type_aliases import JsonObject

_HUMAN_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")


@dataclass(frozen=True)
class ResourceKeys:
    """A resource's keys split by where they are stored (see `fhir_server.search.keys`)."""

    indexed: list[str]  # sp.k, sorted
    unindexed: list[str]  # sp.t, sorted: matched in the application, driven by an indexed key
    exact: list[str]  # sp.x, sorted: original strings for :exact


def resource_keys(resource: JsonObject, own_bases: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """(sorted index keys, original strings for :exact) of every registered parameter of the resource;
    the keys are all of them, indexed or not, as a search tests a candidate against them."""
    split = split_resource_keys(resource, own_bases)
    return sorted([*split.indexed, *split.unindexed]), split.exact


def split_resource_keys(resource: JsonObject, own_bases: Sequence[str] = ()) -> ResourceKeys:
    indexed: set[str] = set()
    unindexed: set[str] = set()
    exact: set[str] = set()
    for param in parameters_of(str(resource.get("resourceType"))).values():
        # Most parameters of a type have no value in a given resource: skip them cheaply (every write and
        # every imported resource pays for this loop). Not derived ones: `deceased` is false when absent.
        elements = top_level_elements(param.expression)
        if param.derive is None and elements is not None and elements.isdisjoint(resource):
            continue
        keys: set[str] = set()
        values = evaluate(param.expression, resource)
        if param.type == "string":
            _string_keys(param, values, keys, exact)
        elif param.type == "token":
            keys.update(_token_keys(param, values))
        elif param.type == "date":
            for interval in _intervals(values):
                keys.update(k.date_keys(param.name, interval))
        elif param.type == "reference":
            keys.update(_reference_keys(param.name, values, own_bases))
        elif param.type == "uri":
            keys.update(
                k.value_key(param.name, v.strip()) for v in values if isinstance(v, str) and v.strip()
            )
        for key in keys:
            (indexed if _is_indexed(param, key) else unindexed).add(key)
    return ResourceKeys(sorted(indexed), sorted(unindexed), sorted(exact))


def _is_indexed(param: SearchParam, key: str) -> bool:
    # The counterpart of the drivers in fhir_server.search.compile: a key left out here must be driven
    # there by a key that every resource having it also has.
    if param.indexed_as is not None:
        return False
    if param.type == "token":
        return not key.startswith((k.value_key(param.name, ""), f"{param.name}:type="))
    return True


def _texts(values: Iterable[Any], datatype: str) -> Iterator[str]:
    parts = {"HumanName": _HUMAN_NAME_PARTS, "Address": _ADDRESS_PARTS}.get(datatype)
    for value in values:
        if parts is None:
            if isinstance(value, str):
                yield value
            continue
        if not isinstance(value, dict):
            continue
        for part in parts:
            item = value.get(part)
            for text in item if isinstance(item, list) else [item]:
                if isinstance(text, str):
                    yield text


def _string_keys(param: SearchParam, values: list[Any], keys: set[str], exact: set[str]) -> None:
    if param.derive == "phonetic":
        names = values
        if param.datatype == "HumanName":
            names = [
                {"family": n.get("family"), "given": n.get("given")} for n in values if isinstance(n, dict)
            ]
        for text in _texts(names, param.datatype):
            keys.update(k.value_key(param.name, code) for code in phonetic_codes(text))
        return
    for text in _texts(values, param.datatype):
        folded = fold(text)
        if folded:
            keys.add(k.value_key(param.name, folded))
            exact.add(k.value_key(param.name, text))


def _token_keys(param: SearchParam, values: list[Any]) -> Iterator[str]:
    name = param.name
    if param.derive == "deceased":
        deceased = any(v is not False for v in values)
        values, param_type = [deceased], "boolean"
    else:
        param_type = param.datatype
    for value in values:
        for system, code, texts in _codes(value, param_type, param.code_system):
            if code:
                yield k.token_key(name, system, code)
                yield k.code_key(name, code)
            for text in texts:
                if folded := fold(text):
                    yield k.text_key(name, folded)
        if param_type == "Identifier" and isinstance(value, dict) and isinstance(value.get("value"), str):
            for coding in (value.get("type") or {}).get("coding") or []:
                if isinstance(coding, dict) and coding.get("code"):
                    yield k.type_key(name, coding.get("system") or "", coding["code"], value["value"])


def _codes(value: Any, datatype: str, implicit_system: str | None) -> Iterator[tuple[str, str, list[str]]]:
    """(system, code, texts) triples of one element."""
    if datatype == "boolean":
        if isinstance(value, bool):
            yield "", "true" if value else "false", []
    elif datatype in ("code", "id", "uri"):
        if isinstance(value, str):
            yield implicit_system or "", value, []
    elif not isinstance(value, dict):
        return
    elif datatype == "Coding":
        yield _coding(value)
    elif datatype == "CodeableConcept":
        texts = [value["text"]] if isinstance(value.get("text"), str) else []
        codings = [c for c in value.get("coding") or [] if isinstance(c, dict)]
        for coding in codings:
            system, code, display = _coding(coding)
            yield system, code, display + texts
        if not codings and texts:
            yield "", "", texts
    elif datatype == "Identifier":
        type_ = value.get("type") or {}
        texts = [type_["text"]] if isinstance(type_.get("text"), str) else []
        yield value.get("system") or "", value.get("value") or "", texts
    elif datatype == "ContactPoint" and isinstance(value.get("value"), str):
        # Contact values match regardless of case (e-mail addresses are compared case-insensitively).
        yield "", value["value"].strip().lower(), []


def _coding(coding: JsonObject) -> tuple[str, str, list[str]]:
    display = coding.get("display")
    return coding.get("system") or "", coding.get("code") or "", [display] if isinstance(display, str) else []


def _intervals(values: Iterable[Any]) -> Iterator[Interval]:
    for value in values:
        interval = None
        if isinstance(value, str):
            interval = parse_interval(value)
        elif isinstance(value, dict):
            interval = period_interval(value.get("start"), value.get("end"))
        if interval is not None:
            yield interval


def _reference_keys(name: str, values: Iterable[Any], own_bases: Sequence[str]) -> Iterator[str]:
    for value in values:
        if not isinstance(value, dict):
            continue
        reference = value.get("reference")
        if isinstance(reference, str) and (normalized := normalize_reference(reference, own_bases)):
            yield k.value_key(name, normalized)
        identifier = value.get("identifier")
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            yield k.identifier_key(name, identifier.get("system") or "", identifier["value"])
            yield k.identifier_code_key(name, identifier["value"])
