"""The ASGI application: `create_app(settings, connection)` wires storage, rules and routes together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from fhir_server import __version__
from fhir_server.api import error_handlers
from fhir_server.api.middleware import BodySizeLimit
from fhir_server.api.routes import router as fhir_router
from fhir_server.api.routes_bundle import router as bundle_router
from fhir_server.api.routes_search import router as search_router
from fhir_server.api.routes_terminology import router as terminology_router
from fhir_server.api.services import Services
from fhir_server.bindings import binding_checker
from fhir_server.db import DatabaseConnection, connect
from fhir_server.interactions import terminology_operations, validate
from fhir_server.interactions.capabilities import Capabilities
from fhir_server.interactions.common import WriteRules
from fhir_server.observability import health
from fhir_server.observability.metrics import RequestObserver
from fhir_server.resource_types import MODELS
from fhir_server.search import index as search_index
from fhir_server.settings import Settings
from fhir_server.storage.mongo import MongoRepository
from terminology.local import LocalTerminology

log = logging.getLogger(__name__)


def build_services(settings: Settings, connection: DatabaseConnection) -> Services:
    repository = MongoRepository(
        connection, list(MODELS), search_index.index_values, search_index.index_models
    )
    repository.ensure_indexes()
    terminology = LocalTerminology()
    operations: dict[str, list[Mapping[str, Any]]] = {t: [validate.CAPABILITY] for t in MODELS}
    operations.update(terminology_operations.capability_operations())
    return Services(
        settings=settings,
        connection=connection,
        repository=repository,
        rules=WriteRules(checkers=(binding_checker(terminology),)),
        capabilities=Capabilities(
            type_operations=operations,
            read_only_types=terminology_operations.READ_ONLY_TYPES,
            read_only_search_parameters=terminology_operations.SEARCH_PARAMETER_TYPES,
        ),
        terminology=terminology,
    )


def create_app(settings: Settings, connection: DatabaseConnection | None = None) -> FastAPI:
    """With `connection` None the app opens (and on shutdown closes) its own database connection."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = connection is None
        conn = connect(settings, "server") if own else connection
        assert conn is not None
        app.state.services = build_services(settings, conn)
        try:
            yield
        finally:
            if own:
                conn.close()

    app = FastAPI(
        title="Imaging Federation FHIR Server",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    error_handlers.install(app)
    # Search routes first: GET /fhir/{type} and POST /fhir/{type}/_search must win over instance routes.
    app.include_router(bundle_router)
    app.include_router(terminology_router)
    app.include_router(search_router)
    app.include_router(fhir_router)
    app.include_router(health.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Added last, so it runs first: every response, even a 413, gets a request id and is counted.
    app.add_middleware(RequestObserver)
    return app
