"""Reads through the version cache, dispatched into the core (no HTTP) and turned into responses by the HTTP
adapter: the stored JSON bytes are the body as they are, 304s need nothing from the database, and the
secured store decides exactly as without a cache (the cache is below it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import orjson
import pytest
from pymongo import monitoring
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from fhir_server.api.middleware import FhirGZip
from fhir_server.errors import FhirError
from fhir_server.resource_types import MODELS
from fhir_server.rest.http_adapter import to_response
from fhir_server.search.index import SearchIndexer
from fhir_server.storage.mongo import MongoRepository
from tests.fhir_server.rest.conftest import Core


class _Finds(monitoring.CommandListener):
    def __init__(self) -> None:
        self.recording = False
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if self.recording and name in ("find", "aggregate", "count") and event.command.get(name) in MODELS:
            self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


FINDS = _Finds()
monitoring.register(FINDS)


@pytest.fixture(scope="module")
def cached(core: Core) -> Iterator[Core]:
    """The same core, its store over a repository with the version cache."""
    repository = MongoRepository(
        core.services.connection,
        list(MODELS),
        SearchIndexer([core.base_url]).index_values,
        cache_entries=1000,
        cache_bytes=10**7,
    )
    assert repository.feed is not None and repository.feed.wait_trusted(20)
    services = dataclasses.replace(core.services, repository=repository)
    yield Core(services, SimpleNamespace(services=services, auth=core.state.auth), core.base_url)
    repository.close()


def _patient(family: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


def test_a_cached_read_sends_the_stored_bytes(cached: Core) -> None:
    created = cached.call("POST", "Patient", _patient("Bytes"), prefer="return=representation")
    assert created.resource is not None
    pid = created.resource["id"]
    read = cached.call("GET", f"Patient/{pid}")
    assert read.serialized_body == orjson.dumps(created.resource)
    response = to_response(read)
    assert response.body == orjson.dumps(created.resource)
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.headers["etag"] == 'W/"1"' and "last-modified" in response.headers
    pretty = to_response(read, pretty=True)
    assert orjson.loads(pretty.body) == created.resource and b"\n  " in pretty.body
    # A body replaced after the fact is serialized, never the stale bytes.
    read.resource = {"resourceType": "Patient", "id": pid}
    assert read.serialized_body is None and orjson.loads(to_response(read).body) == read.resource


def test_revalidation_is_answered_from_the_cache(cached: Core) -> None:
    created = cached.call("POST", "Patient", _patient("Revalidate"))
    assert created.resource is not None
    pid = created.resource["id"]
    cached.call("GET", f"Patient/{pid}")
    FINDS.count = 0
    FINDS.recording = True
    try:
        not_modified = cached.call("GET", f"Patient/{pid}", headers={"If-None-Match": 'W/"1"'})
        since = cached.call(
            "GET", f"Patient/{pid}", headers={"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}
        )
        full = cached.call("GET", f"Patient/{pid}")
    finally:
        FINDS.recording = False
    assert (not_modified.status, not_modified.body, not_modified.headers["ETag"]) == (304, None, 'W/"1"')
    assert (since.status, since.body) == (304, None)
    assert full.status == 200 and full.resource == created.resource
    assert FINDS.count == 0
    assert to_response(not_modified).body == b""


def test_the_secured_store_decides_as_without_a_cache(core: Core, cached: Core) -> None:
    mine = cached.call("POST", "Patient", _patient("Mine"))
    other = cached.call("POST", "Patient", _patient("Other"))
    assert mine.resource is not None and other.resource is not None
    mine_id, other_id = mine.resource["id"], other.resource["id"]
    for target in (mine_id, other_id):  # both cached now
        cached.call("GET", f"Patient/{target}")
    callers = {
        "patient": dict(scopes="patient/*.rs", patient=mine_id),
        "other type": dict(scopes="system/Observation.rs"),
        "system": dict(scopes="system/*.rs"),
    }
    for name, access in callers.items():
        for target in (mine_id, other_id):
            answers = []
            for each in (core, cached):
                try:
                    result = each.call("GET", f"Patient/{target}", access=each.access(**access))
                    answers.append((result.status, result.resource))
                except FhirError as error:
                    answers.append((error.status, None))
            assert answers[0] == answers[1], (name, target, answers)
    patient_view = cached.access(scopes="patient/*.rs", patient=mine_id)
    with pytest.raises(FhirError) as hidden:
        cached.call("GET", f"Patient/{other_id}", access=patient_view)
    assert hidden.value.status == 404
    assert cached.call("GET", f"Patient/{mine_id}", access=patient_view).status == 200


def _gzip_app() -> FhirGZip:
    async def fhir(request: Any) -> Response:
        return Response(b'{"a":"' + b"x" * 4000 + b'"}', media_type="application/fhir+json")

    async def dicom(request: Any) -> Response:
        return Response(b"\0" * 4000, media_type="application/dicom")

    async def shl(request: Any) -> Response:
        return Response(b"e" * 4000, media_type="application/jose")

    routes = [
        Route("/fhir/Patient/x", fhir),
        Route("/dicomweb/studies/x", dicom),
        Route("/shl/file/x", shl),
        Route("/fhir/Binary/x", dicom),
    ]
    return FhirGZip(Starlette(routes=routes))


def test_gzip_only_for_fhir_json() -> None:
    async def run() -> None:
        transport = httpx.ASGITransport(app=_gzip_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            gz = {"Accept-Encoding": "gzip"}
            compressed = await client.get("/fhir/Patient/x", headers=gz)
            assert compressed.headers.get("content-encoding") == "gzip"
            brotli_only = await client.get("/fhir/Patient/x", headers={"Accept-Encoding": "br"})
            assert "content-encoding" not in brotli_only.headers
            for path in ("/dicomweb/studies/x", "/shl/file/x", "/fhir/Binary/x"):
                response = await client.get(path, headers=gz)
                assert "content-encoding" not in response.headers and len(response.content) == 4000

    anyio.run(run)
