"""Evaluation of the registry's FHIRPath-like expressions over resource JSON.

The subset: unions (`a | b`), member access (`Patient.name.family`, choice elements by their JSON name such
as `Patient.deceasedDateTime`), `where(field='value')` and `where(resolve() is Type)` on references.
Compiled once per expression; unknown syntax fails at import time, not at write time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any

Step = Callable[[Iterable[Any]], Iterator[Any]]

_WHERE_FIELD = re.compile(r"^where\((\w+)\s*=\s*'([^']*)'\)$")
_WHERE_TYPE = re.compile(r"^where\(resolve\(\)\s+is\s+(\w+)\)$")
_NAME = re.compile(r"^\w+$")


def _member(name: str) -> Step:
    def step(items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            if isinstance(item, dict):
                value = item.get(name)
                if isinstance(value, list):
                    yield from value
                elif value is not None:
                    yield value

    return step


def _where_field(field: str, expected: str) -> Step:
    def step(items: Iterable[Any]) -> Iterator[Any]:
        return (item for item in items if isinstance(item, dict) and item.get(field) == expected)

    return step


def _where_type(resource_type: str) -> Step:
    prefix = f"{resource_type}/"

    def step(items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            reference = item.get("reference") if isinstance(item, dict) else None
            if isinstance(reference, str) and (reference.startswith(prefix) or f"/{prefix}" in reference):
                yield item
            elif isinstance(item, dict) and item.get("type") == resource_type:
                yield item  # logical reference (identifier only) that declares its type

    return step


def _split_steps(path: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in path:
        if ch == "." and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += (ch == "(") - (ch == ")")
        current += ch
    parts.append(current)
    return [p.strip() for p in parts]


def _compile_path(path: str) -> list[Step]:
    names = _split_steps(path)
    steps: list[Step] = []
    for name in names[1:]:  # names[0] is the resource type (or `Resource`)
        if (match := _WHERE_FIELD.match(name)) is not None:
            steps.append(_where_field(match.group(1), match.group(2)))
        elif (match := _WHERE_TYPE.match(name)) is not None:
            steps.append(_where_type(match.group(1)))
        elif _NAME.match(name):
            steps.append(_member(name))
        else:
            raise ValueError(f"unsupported search expression step {name!r} in {path!r}")
    return steps


@cache
def compile_expression(expression: str) -> tuple[tuple[Step, ...], ...]:
    return tuple(tuple(_compile_path(path.strip())) for path in expression.split("|"))


@cache
@cache  # a registry's few expressions, asked for every parameter of every resource written
def top_level_elements(expression: str) -> frozenset[str] | None:
    """The elements of the resource every path of the expression starts with, so that an expression whose
    elements are all absent can be skipped without evaluating it; None when a path starts otherwise."""
    names = set()
    for path in expression.split("|"):
        steps = _split_steps(path.strip())
        if len(steps) < 2 or not _NAME.match(steps[1]):
            return None
        names.add(steps[1])
    return frozenset(names)


def evaluate(expression: str, resource: dict[str, Any]) -> list[Any]:
    values: list[Any] = []
    for steps in compile_expression(expression):
        items: Iterable[Any] = [resource]
        for step in steps:
            items = step(items)
        values.extend(items)
    return values
