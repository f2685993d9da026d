"""The ASGI application: `create_app(settings, connection)` wires storage, rules and routes together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from fhir_server import __version__
from fhir_server.api import error_handlers
from fhir_server.api.cache_control import NoStore
from fhir_server.api.middleware import BodySizeLimit
from fhir_server.api.routes import router as fhir_router
from fhir_server.api.routes_bundle import router as bundle_router
from fhir_server.api.routes_search import router as search_router
from fhir_server.api.routes_terminology import router as terminology_router
from fhir_server.api.services import Services
from fhir_server.auth import wiring as auth_wiring
from fhir_server.bindings import binding_checker
from fhir_server.dashboard import client as dashboard_client
from fhir_server.dashboard import routes as dashboard_routes
from fhir_server.db import DatabaseConnection, connect
from fhir_server.dicomweb import admin as dicomweb_admin
from fhir_server.dicomweb import health as dicomweb_health
from fhir_server.dicomweb import proxy as dicomweb_proxy
from fhir_server.dicomweb.runtime import dicomweb_runtime
from fhir_server.interactions import conditional, everything, terminology_operations, validate
from fhir_server.interactions.capabilities import Capabilities
from fhir_server.interactions.common import WriteRules
from fhir_server.observability import health
from fhir_server.observability.metrics import RequestObserver
from fhir_server.patients import candidates as patient_matches
from fhir_server.patients import match_routes as patient_match_routes
from fhir_server.patients import merge as patient_merge
from fhir_server.patients import merge_routes as patient_merge_routes
from fhir_server.resource_types import MODELS
from fhir_server.search import capability as search_capability
from fhir_server.search.index import SearchIndexer
from fhir_server.search.locks import COLLECTION as LOCKS
from fhir_server.search.locks import CriteriaLock
from fhir_server.search.migration import ensure_index_format
from fhir_server.settings import Settings
from fhir_server.shl import components as shl_components
from fhir_server.shl import legacy_routes as shl_legacy
from fhir_server.shl import manifest_routes as shl_manifest
from fhir_server.shl import routes as shl_routes
from fhir_server.shl import viewer as shl_viewer
from fhir_server.storage.mongo import MongoRepository
from terminology.local import LocalTerminology

log = logging.getLogger(__name__)


def build_services(settings: Settings, connection: DatabaseConnection) -> Services:
    indexer = SearchIndexer([settings.public_base_url or ""])
    repository = MongoRepository(connection, list(MODELS), indexer.index_values, indexer.index_models)
    repository.ensure_indexes()
    if reindexed := ensure_index_format(connection.db, repository, indexer, list(MODELS)):
        log.info("search: re-indexed %d resources to the current index format", reindexed)
    CriteriaLock(connection.db.get_collection(LOCKS), settings.conditional_lock_seconds).ensure_index()
    terminology = LocalTerminology()
    operations: dict[str, list[Mapping[str, Any]]] = {t: [validate.CAPABILITY] for t in MODELS}
    operations.update(terminology_operations.capability_operations())
    operations["Patient"] = [*operations.get("Patient", []), everything.OPERATION, patient_merge.OPERATION]
    for resource_type, shl_operations in shl_routes.OPERATIONS.items():
        operations[resource_type] = [*operations.get(resource_type, []), *shl_operations]
    return Services(
        settings=settings,
        connection=connection,
        repository=repository,
        rules=WriteRules(checkers=(binding_checker(terminology),)),
        capabilities=Capabilities(
            search_parameters=search_capability.search_parameters(),
            search_include=search_capability.search_includes(),
            search_rev_include=search_capability.search_rev_includes(),
            conditional_create=True,
            conditional_update=True,
            conditional_delete=conditional.DELETE_CAPABILITY,
            type_operations=operations,
            read_only_types=terminology_operations.READ_ONLY_TYPES,
            read_only_search_parameters=terminology_operations.SEARCH_PARAMETER_TYPES,
            security=auth_wiring.security_statement(settings),
        ),
        terminology=terminology,
        find_ids=conditional.find_ids,
    )


def create_app(settings: Settings, connection: DatabaseConnection | None = None) -> FastAPI:
    """With `connection` None the app opens (and on shutdown closes) its own database connection."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = connection is None
        conn = connect(settings, "server") if own else connection
        assert conn is not None
        app.state.services = build_services(settings, conn)
        app.state.auth = auth_wiring.start(settings, conn, app.state.services.repository)
        dashboard_client.register_client(app.state.auth.clients)
        app.state.shl = shl_components.start(settings, conn)
        app.state.patient_matches = patient_matches.start(conn.db)
        try:
            async with dicomweb_runtime(app.state.services) as dicomweb:
                app.state.dicomweb = dicomweb
                yield
        finally:
            app.state.auth.close()
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
    for router in auth_wiring.ROUTERS:
        app.include_router(router)
    # Before the generic FHIR routes: POST /fhir/{type}/{id}/$op would otherwise not reach $shl.
    app.include_router(shl_routes.router)
    app.include_router(shl_manifest.router)
    app.include_router(shl_viewer.router)
    app.include_router(shl_legacy.router)
    # Also before the generic FHIR routes: POST /fhir/Patient/$merge is no create of a resource "$merge".
    app.include_router(patient_merge_routes.router)
    app.include_router(patient_match_routes.router)
    app.include_router(bundle_router)
    app.include_router(terminology_router)
    app.include_router(fhir_router)
    # Search after the instance routes: GET /fhir/{type} would shadow /fhir/metadata and /fhir/_history.
    app.include_router(search_router)
    app.include_router(health.router)
    app.include_router(dicomweb_proxy.router)
    app.include_router(dicomweb_health.router)
    app.include_router(dicomweb_admin.router)
    app.include_router(dashboard_routes.router)
    auth_wiring.add_authentication(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    auth_wiring.add_cors(app)
    # Outside authentication, the body limit and CORS, so that their 401s, 413s and preflights get it too.
    app.add_middleware(NoStore)
    # Added last, so it runs first: every response, even a 413, gets a request id and is counted.
    app.add_middleware(RequestObserver)
    return app
