"""The FHIR core in this test process, without HTTP: the application's own services and audit over a real
embedded database, and `Core.call`, which dispatches a `FhirRequest` through the route table as a given
caller (a secured store bound to that caller's access, exactly as the HTTP adapter builds it)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from fhir_server.app import build_services
from fhir_server.core.context import Prefer
from fhir_server.core.request import FhirRequest, Headers
from fhir_server.core.result import FhirResult
from fhir_server.interactions.services import Services
from fhir_server.rest.routes import ROUTES
from fhir_server.security import wiring as auth_wiring
from fhir_server.security.access.store import SecuredStore, store_for
from fhir_server.security.enforcement.policy import AccessContext
from fhir_server.security.enforcement.scopes import ScopeSet
from fhir_server.security.server_base import fhir_base
from fhir_server.settings import Settings
from fhir_server.storage.connection import connect

SYSTEM = "system/*.cruds"


@dataclass
class Core:
    services: Services
    state: Any
    base_url: str

    def access(self, scopes: str = SYSTEM, **kw: Any) -> AccessContext:
        return AccessContext(subject="core-test", scopes=ScopeSet.parse(scopes), base_url=self.base_url, **kw)

    def store(self, access: AccessContext | None = None) -> SecuredStore:
        return store_for(self.state, access or self.access())

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | list[Any] | None = None,
        *,
        query: tuple[tuple[str, str], ...] = (),
        headers: Mapping[str, str] | None = None,
        access: AccessContext | None = None,
        prefer: str | None = None,
    ) -> FhirResult:
        request = FhirRequest(
            method=method,
            path=path,
            services=self.services,
            query=query,
            headers=Headers((headers or {}).items()),
            body=orjson.dumps(body) if body is not None else b"",
            base_url=self.base_url,
            prefer=Prefer.parse(prefer),
            caller=self.store(access),
            components=self.state,
            audit_path=f"/fhir/{path}",
        )
        return ROUTES.dispatch(request)


@pytest.fixture(scope="session")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Core]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("core") / "data", auth_mode="smart", log_format="text"
    )
    connection = connect(settings, "server")
    try:
        services = build_services(settings, connection)
        auth = auth_wiring.start(settings, connection, services.repository)
        try:
            yield Core(services, SimpleNamespace(services=services, auth=auth), fhir_base(settings))
        finally:
            auth.close()
    finally:
        connection.close()
