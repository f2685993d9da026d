"""`FhirRequest`: one FHIR interaction as data (https://hl7.org/fhir/R4/http.html), whether it came over HTTP
(fhir_server.rest.http_adapter) or as a Bundle entry (fhir_server.interactions.bundle)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fhir_server.core.context import Prefer, RequestContext
from fhir_server.errors import FhirError, Problem

if TYPE_CHECKING:
    from fhir_server.core.routing import Route
    from fhir_server.interactions.services import Services
    from fhir_server.security.access.store import SecuredStore


class Headers(Mapping[str, str]):
    """Request headers by case-insensitive name (the last value of a repeated header wins)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = {name.lower(): value for name, value in items}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items


@dataclass(frozen=True)
class FhirRequest:
    """`path` is relative to the FHIR base ("Patient/1/_history/2", "" for the base itself). The route's
    parameters (type, id, vid, operation) are filled in by `RouteTable.resolve`. `caller` is the caller's
    secured store (None on public routes): handlers take `store`, re-bound to the route's permission."""

    method: str
    path: str
    services: Services
    query: tuple[tuple[str, str], ...] = ()
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    base_url: str = ""
    prefer: Prefer = field(default_factory=Prefer)
    pretty: bool = False
    caller: SecuredStore | None = None
    # The application's long-lived feature components (patient match candidates): opaque to the core.
    components: Any = None
    route: Route | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    # Where the request came from, for audit records (`shown.record`): the HTTP path, or the bundle entry.
    audit_path: str = ""

    @property
    def resource_type(self) -> str:
        return self.params.get("type", "")

    @property
    def id(self) -> str:
        return self.params.get("id", "")

    @property
    def vid(self) -> str:
        return self.params.get("vid", "")

    @property
    def operation(self) -> str:
        """The operation's name without its `$`."""
        return self.params.get("operation", "").removeprefix("$")

    @property
    def context(self) -> RequestContext:
        return RequestContext(self.base_url, self.prefer, self.pretty)

    @property
    def query_string(self) -> str:
        return urlencode(self.query)

    def query_dict(self) -> dict[str, str]:
        """One value per name (the last, as a query string read into a dict keeps it)."""
        return dict(self.query)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def store(self) -> SecuredStore:
        """The caller's store bound to this route's permission (401 when the route was not authenticated)."""
        if self.caller is None:
            raise FhirError(Problem.UNAUTHORIZED, "This request needs an access token")
        permission = self.route.permission if self.route is not None else None
        return self.caller if permission is None else self.caller.for_interaction(permission)

    def bound(self, route: Route, params: Mapping[str, str]) -> FhirRequest:
        return replace(self, route=route, params=dict(params))
