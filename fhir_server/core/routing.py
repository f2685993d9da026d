"""Routes as data: a `Route` row says which requests it takes (method, path pattern), what FHIR interaction
that is, which handler answers it, what it contributes to the CapabilityStatement and which permission its
store is bound to. `RouteTable` matches requests against the rows.

Patterns are relative to the FHIR base, segments separated by `/`: a literal (`metadata`, `_history`,
`$everything`, `Patient`), a parameter (`{type}`, `{id}`, `{vid}`) or an operation parameter (`${operation}`,
any segment starting with `$`). Precedence, segment by segment from the left: literal over operation parameter
over parameter, so `Patient/$merge` beats `{type}/{id}` and `metadata` beats `{type}`, whatever order the rows
are in. Two rows of one method whose patterns have the same shape (and literals) can never be told apart:
building such a table raises `RouteConflict`, at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fhir_server.core.request import FhirRequest
from fhir_server.core.result import FhirResult
from fhir_server.errors import FhirError, Problem

if TYPE_CHECKING:
    from fhir_server.security.access.store import Interaction

Handler = Callable[[FhirRequest], FhirResult]

_PARAMETER = re.compile(r"^\{([a-z_]+)\}$")
_OPERATION = re.compile(r"^\$\{([a-z_]+)\}$")
# Segment ranks: the higher one wins at the first position where two matching patterns differ.
_LITERAL, _OPERATION_PARAMETER, _ANY = 3, 2, 1


class RouteConflict(ValueError):
    """Two rows that can take the same request with equal precedence."""


@dataclass(frozen=True)
class Segment:
    text: str
    rank: int
    name: str | None = None  # the parameter it binds

    @classmethod
    def parse(cls, text: str) -> Segment:
        if match := _OPERATION.match(text):
            return cls(text, _OPERATION_PARAMETER, match.group(1))
        if match := _PARAMETER.match(text):
            return cls(text, _ANY, match.group(1))
        return cls(text, _LITERAL)

    def matches(self, value: str) -> bool:
        if self.rank == _LITERAL:
            return value == self.text
        if self.rank == _OPERATION_PARAMETER:
            return value.startswith("$") and len(value) > 1
        return bool(value)


@dataclass(frozen=True)
class Route:
    """One row. `handler` None: answered by a feature's own HTTP route (named in `served_by`) because its
    answer is no FHIR JSON (an SHL QR code is an image); the row still labels metrics and names the
    operation.
    `capabilities` are the interaction codes the row contributes to the CapabilityStatement (operations come
    from fhir_server/rest/data/operations.json instead). `permission` is the interaction the
    caller's secured store is bound to (None: the route reads no FHIR data, so gets no store).
    `in_bundle`: a batch or transaction entry may name this route.
    `memory_first`: try the handler on the event loop first (fhir_server.storage.memory_only): a read that
    finds its version in the cache is answered without a worker thread."""

    method: str
    pattern: str
    interaction: str
    handler: Handler | None
    permission: Interaction | None = None
    capabilities: tuple[str, ...] = ()
    in_bundle: bool = False
    served_by: str | None = None
    memory_first: bool = False
    segments: tuple[Segment, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = tuple(Segment.parse(s) for s in self.pattern.split("/")) if self.pattern else ()
        object.__setattr__(self, "segments", parts)

    @property
    def system_level(self) -> bool:
        """Not about a resource type: [base] itself, `_history`, `metadata`, `$operation`."""
        first = self.segments[0] if self.segments else None
        return first is None or (first.rank == _LITERAL and not first.text[:1].isupper())

    @property
    def precedence(self) -> tuple[int, ...]:
        return tuple(s.rank for s in self.segments)

    @property
    def shape(self) -> tuple[str, ...]:
        """What makes two patterns indistinguishable: literals by text, parameters by kind only."""
        return tuple(s.text if s.rank == _LITERAL else f"<{s.rank}>" for s in self.segments)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for segment, value in zip(self.segments, parts, strict=True):
            if not segment.matches(value):
                return None
            if segment.name is not None:
                params[segment.name] = value
            elif segment is self.segments[0] and value[:1].isupper():
                params["type"] = value  # `Patient/$merge` is about the type it names
            elif value.startswith("$"):
                params["operation"] = value  # `{type}/$validate` names its operation
        return params

    @property
    def http_path(self) -> str:
        """The pattern as a Starlette/OpenAPI path template under the base, with today's parameter names
        (`{resource_type}`, `{resource_id}`, `{version_id}`, `${name}`)."""
        names = {"type": "resource_type", "id": "resource_id", "vid": "version_id", "operation": "name"}
        parts = []
        for segment in self.segments:
            if segment.name is None:
                parts.append(segment.text)
            elif segment.rank == _OPERATION_PARAMETER:
                parts.append(f"${{{names.get(segment.name, segment.name)}}}")
            else:
                parts.append(f"{{{names.get(segment.name, segment.name)}}}")
        return "/" + "/".join(parts) if parts else ""


@dataclass(frozen=True)
class Match:
    route: Route
    params: Mapping[str, str]


class RouteTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        _check_conflicts(self.routes)
        # Per method and number of segments, most specific first: a match tries only the rows that could
        # take the request, and the first that does is the one of highest precedence.
        self._candidates: dict[tuple[str, int], tuple[Route, ...]] = {}
        for route in self.in_precedence_order():
            key = (route.method, len(route.segments))
            self._candidates[key] = (*self._candidates.get(key, ()), route)
        self._interactions = {(r.method, r.http_path): r.interaction for r in self.routes}

    def __iter__(self) -> Iterator[Route]:
        return iter(self.routes)

    def match(self, method: str, path: str) -> Match | None:
        """The row of highest precedence that takes `method` on `path` (HEAD is answered as GET)."""
        method = method.upper()
        if method == "HEAD":
            method = "GET"
        parts = _parts(path)
        for route in self._candidates.get((method, len(parts)), ()):
            params = route.match(parts)
            if params is not None:
                return Match(route, params)
        return None

    def methods_on(self, path: str) -> list[str]:
        """The methods some row takes on `path` (the `Allow` of a 405), in the table's order."""
        parts = _parts(path)
        taken = [r.method for r in self.routes if r.match(parts) is not None]
        return list(dict.fromkeys(taken))

    def resolve(self, request: FhirRequest) -> FhirRequest:
        """`request` bound to its row and the row's parameters; 404 when no row (with a handler) takes it."""
        found = self.match(request.method, request.path)
        if found is None or found.route.handler is None:
            raise FhirError(Problem.NOT_FOUND, f"No route for {request.method} [base]/{request.path}")
        return request.bound(found.route, found.params)

    def dispatch(self, request: FhirRequest) -> FhirResult:
        """Run `request` through its row's handler, without any HTTP."""
        bound = self.resolve(request)
        assert bound.route is not None and bound.route.handler is not None
        return bound.route.handler(bound)

    def in_precedence_order(self) -> list[Route]:
        """Most specific first: registered in this order, a first-match router (Starlette) agrees with
        `match`."""
        return sorted(self.routes, key=lambda r: tuple(-rank for rank in r.precedence))

    def interaction_of(self, method: str, http_path: str) -> str | None:
        """The interaction of the row registered as `method http_path` (the metrics' label)."""
        return self._interactions.get((method, http_path))


def _parts(path: str) -> list[str]:
    stripped = path.strip("/")
    return stripped.split("/") if stripped else []


def _check_conflicts(routes: tuple[Route, ...]) -> None:
    seen: dict[tuple[str, tuple[str, ...]], Route] = {}
    for route in routes:
        key = (route.method, route.shape)
        if (other := seen.get(key)) is not None:
            raise RouteConflict(
                f"{route.method} {route.pattern!r} ({route.interaction}) and "
                f"{other.method} {other.pattern!r} "
                f"({other.interaction}) take the same requests with equal precedence"
            )
        seen[key] = route
