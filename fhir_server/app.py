"""The ASGI application: `create_app(settings, connection)` wires storage, rules and routes together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from fhir_server import __version__, subscriptions
from fhir_server.api import docs as api_docs
from fhir_server.api import error_handlers
from fhir_server.api.cache_control import NoStore
from fhir_server.api.dependencies import Services
from fhir_server.api.head import HeadAsGet
from fhir_server.api.middleware import BodySizeLimit, FhirGZip
from fhir_server.binding_checks import binding_checker
from fhir_server.dashboard import client as dashboard_client
from fhir_server.dashboard import routes as dashboard_routes
from fhir_server.dicomweb.hospitals import orthanc_health as dicomweb_health
from fhir_server.dicomweb.hospitals import routes as dicomweb_admin
from fhir_server.dicomweb.proxy import routes as dicomweb_proxy
from fhir_server.dicomweb.runtime import dicomweb_runtime
from fhir_server.interactions import conditional, terminology_operations
from fhir_server.interactions.capabilities import Capabilities
from fhir_server.interactions.common import WriteRules
from fhir_server.legacy import api as legacy_api
from fhir_server.legacy import shl_routes as shl_legacy
from fhir_server.observability import health
from fhir_server.observability.metrics import RequestObserver
from fhir_server.patients import candidates as patient_matches
from fhir_server.patients import match_routes as patient_match_routes
from fhir_server.resource_types import MODELS
from fhir_server.rest import http_adapter
from fhir_server.rest import openapi as rest_openapi
from fhir_server.rest.routes import ROUTES, capability_fields
from fhir_server.search import capability as search_capability
from fhir_server.search.index import SearchIndexer
from fhir_server.search.migration import ensure_server_schema
from fhir_server.security import wiring as auth_wiring
from fhir_server.security.server_base import fhir_base
from fhir_server.settings import Settings
from fhir_server.shl import components as shl_components
from fhir_server.shl import manifest_routes as shl_manifest
from fhir_server.shl import routes as shl_routes
from fhir_server.shl import viewer as shl_viewer
from fhir_server.storage.connection import DatabaseConnection, connect
from fhir_server.storage.mongo import MongoRepository
from fhir_server.viewer import advertise_iid
from fhir_server.viewer import router as viewer_router
from terminology.bindings import load_bindings
from terminology.local import LocalTerminology

log = logging.getLogger(__name__)


def build_services(
    settings: Settings, connection: DatabaseConnection, *, version_cache: bool = False
) -> Services:
    """`version_cache`: reads by id through the current-version cache (the server; commands go direct)."""
    indexer = SearchIndexer([settings.public_base_url or ""])
    if reindexed := ensure_server_schema(connection, indexer):
        log.info("search: re-indexed %d resources to the current index format", reindexed)
    repository = MongoRepository(
        connection,
        list(MODELS),
        indexer.index_values,
        cache_entries=settings.version_cache_entries if version_cache else 0,
        cache_bytes=settings.version_cache_bytes,
        cache_ttl_seconds=settings.version_cache_ttl_seconds,
    )
    terminology = LocalTerminology()
    load_bindings()  # the binding table is checked now: a malformed one stops start-up, not the first write
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
            # Interactions and operations as the route table serves them.
            **capability_fields(),
            read_only_types=terminology_operations.READ_ONLY_TYPES,
            read_only_search_parameters=terminology_operations.SEARCH_PARAMETER_TYPES,
            security=auth_wiring.security_statement(settings),
            feature_resources=subscriptions.capability_resources(),
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
        app.state.services = build_services(settings, conn, version_cache=True)
        app.state.auth = auth_wiring.start(settings, conn, app.state.services.repository)
        dashboard_client.register_client(app.state.auth.clients)
        api_docs.register_client(app.state.auth.clients)
        advertise_iid(app.state.services.repository, settings)
        app.state.shl = shl_components.start(settings, conn)
        app.state.patient_matches = patient_matches.start(conn.documents)
        app.state.subscriptions = subscriptions.start(app.state, conn.documents)
        try:
            async with dicomweb_runtime(app.state.services) as dicomweb:
                app.state.dicomweb = dicomweb
                yield
        finally:
            app.state.subscriptions.close()
            app.state.auth.close()
            if isinstance(app.state.services.repository, MongoRepository):
                app.state.services.repository.close()
            if own:
                conn.close()

    app = FastAPI(
        title="Imaging Federation FHIR Server",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served offline by fhir_server.api.docs (below)
        redoc_url=None,
    )
    # Innermost: the route table's rows are answered inside every middleware below (and the catch-all for
    # bugs that `install` adds), without going through the framework's router.
    app.add_middleware(http_adapter.FhirRoutes, table=ROUTES)
    app.add_middleware(HeadAsGet)  # HEAD on every route that answers GET, FHIR or not
    error_handlers.install(app)
    for router in auth_wiring.ROUTERS:
        app.include_router(router)
    app.include_router(shl_routes.router)
    app.include_router(shl_manifest.router)
    app.include_router(shl_viewer.router)
    app.include_router(shl_legacy.router)
    app.include_router(legacy_api.router)
    app.include_router(patient_match_routes.router)
    app.include_router(health.router)
    app.include_router(dicomweb_proxy.router)
    app.include_router(dicomweb_health.router)
    app.include_router(dicomweb_admin.router)
    app.include_router(dashboard_routes.router)
    app.include_router(subscriptions.router)
    # /docs and /openapi.json: the /fhir part of the document is made from the route table.
    api_docs.install(app, lambda doc: rest_openapi.complete(doc, ROUTES, settings), fhir_base(settings))
    app.include_router(viewer_router)
    # Inside authentication: only what a route answers under /fhir is compressed (never DICOM or SHL files).
    app.add_middleware(FhirGZip)
    auth_wiring.add_authentication(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    auth_wiring.add_cors(app)
    # Outside authentication, the body limit and CORS, so that their 401s, 413s and preflights get it too.
    app.add_middleware(NoStore)
    # Added last, so it runs first: every response, even a 413, gets a request id and is counted.
    app.add_middleware(RequestObserver, fhir_interaction=ROUTES.interaction_of)
    return app
