"""Every database query a search issues is served from an index: run representative searches through the
engine against the test server's database, record each query, and ask the database for its plan
(`explain()`, mongod-like `queryPlanner.winningPlan`). A COLLSCAN anywhere fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest

from fhir_server.search.access import SERVER_WIDE
from fhir_server.search.engine import SearchEngine, SearchLimits
from fhir_server.search.includes import resolve_includes
from fhir_server.search.index import SearchIndexer
from fhir_server.search.request import parse_search
from fhir_server.search.sorting import sort_candidates
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect
from fhir_server.storage.mongo import MongoRepository
from tests.fhir_server.search.search_support import Seeder
from tests.server_process import RunningServer

CONNECTION = {
    "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
    "code": "dicom-wado-rs",
}

SEARCHES = [
    ("Patient", "identifier=SYS|1"),
    ("Patient", "identifier=1"),
    ("Patient", "identifier=SYS|"),
    ("Patient", "family=han"),
    ("Patient", "family:exact=Hansen"),
    ("Patient", "family:contains=ans"),
    ("Patient", "name=hans,ols"),
    ("Patient", "phonetic=Hanson"),
    ("Patient", "gender=female&family=han"),
    ("Patient", "gender:not=male"),
    ("Patient", ""),
    ("Patient", "_sort=-birthdate"),
    ("Patient", "birthdate:missing=true"),
    ("Patient", "birthdate:missing=false"),
    *[
        ("Patient", f"birthdate={prefix}1990-05")
        for prefix in ("", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
    ],
    ("Patient", "_lastUpdated=gt2020-01-01"),
    ("Patient", "organization=Organization/ORG"),
    ("Patient", "general-practitioner=ORG"),
    ("Patient", "organization:identifier=SYS|x"),
    ("Patient", "_has:ImagingStudy:patient:modality=CT"),
    ("Patient", "_revinclude=ImagingStudy:patient"),
    (
        "ImagingStudy",
        "patient.identifier=SYS|1&_include=ImagingStudy:endpoint&_include:iterate=Endpoint:organization",
    ),
    (
        "ImagingStudy",
        "patient=Patient/P1&_include=ImagingStudy:endpoint&_include:iterate=Endpoint:organization",
    ),
    ("ImagingStudy", "endpoint.organization.name=general"),
    ("ImagingStudy", "started=ge2024-01-01&_sort=-started"),
    ("ImagingStudy", "modality=CT&status=available"),
    ("ImagingStudy", "modality:text=computed"),
    ("ImagingStudy", "_profile:below=http://example.org"),
    ("ImagingStudy", "_profile:above=http://example.org/a/b"),
    # Driven through another parameter's keys (fhir_server.search.keys: the tested keys are not indexed).
    ("Patient", "given=han"),
    ("Patient", "family:exact=Hansen&given:contains=x"),
    ("Patient", "phone=+47 1234"),
    ("Patient", "email=A@B.ORG"),
    ("Patient", "telecom:missing=false"),
    ("Patient", "address-city=oslo"),
    ("Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|NI|1"),
    ("Patient", "gender:missing=false"),
    ("Patient", "_lastUpdated=ge2020-01-01&_sort=-_lastUpdated"),
    *[("Patient", f"_lastUpdated={prefix}2020-01-01") for prefix in ("ne", "sa", "eb", "ap")],
    ("ImagingStudy", "patient=P1"),
    ("ImagingStudy", "patient:identifier=SYS|1"),
    ("ImagingStudy", "patient:missing=false"),
    ("ImagingStudy", "status=http://hl7.org/fhir/imagingstudy-status|available"),
    ("Patient", "_revinclude=ImagingStudy:patient&_has:ImagingStudy:patient:status=available"),
    ("Organization", "_has:Endpoint:organization:_has:ImagingStudy:endpoint:modality=CT"),
]


class _Recorder:
    """A repository stand-in that hands out collections which remember every filter they are asked."""

    def __init__(self, repository: MongoRepository) -> None:
        self.repository = repository
        self.queries: list[tuple[str, dict[str, Any]]] = []

    def collection(self, resource_type: str) -> _RecordingCollection:
        return _RecordingCollection(self, resource_type)


class _RecordingCollection:
    def __init__(self, recorder: _Recorder, resource_type: str) -> None:
        self._recorder = recorder
        self._type = resource_type

    def find(self, filter_: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._recorder.queries.append((self._type, filter_))
        return self._recorder.repository.collection(self._type).find(filter_, *args, **kwargs)


@pytest.fixture(scope="module")
def connection(server: RunningServer) -> Iterator[DatabaseConnection]:
    conn = connect(Settings(data_dir=server.data_dir), "cli")
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def repository(connection: DatabaseConnection, seeder: Seeder) -> MongoRepository:
    put, ref = seeder.put, seeder.id
    put("org", {"resourceType": "Organization", "name": "General"})
    put(
        "ep",
        {
            "resourceType": "Endpoint",
            "status": "active",
            "connectionType": CONNECTION,
            "payloadType": [{"text": "DICOM"}],
            "address": "https://pacs.example.org/dicom-web",
            "managingOrganization": {"reference": f"Organization/{ref('org')}"},
        },
    )
    put(
        "p1",
        {
            "resourceType": "Patient",
            "identifier": [{"system": seeder.system, "value": "1"}],
            "name": [{"family": "Hansen", "given": ["Hans"]}],
            "telecom": [{"system": "phone", "value": "+47 1234"}, {"system": "email", "value": "a@b.org"}],
            "address": [{"city": "Oslo"}],
            "birthDate": "1990-05-01",
            "managingOrganization": {"reference": f"Organization/{ref('org')}"},
        },
    )
    put(
        "s1",
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "started": "2024-02-01",
            "subject": {"reference": f"Patient/{ref('p1')}"},
            "endpoint": [{"reference": f"Endpoint/{ref('ep')}"}],
            "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}],
        },
    )
    indexer = SearchIndexer()
    return MongoRepository(
        connection,
        ["Patient", "Organization", "ImagingStudy", "Endpoint"],
        indexer.index_values,
    )


def _stages(plan: dict[str, Any]) -> Iterator[str]:
    yield plan["stage"]
    for key in ("inputStage", "queryPlan"):
        if isinstance(plan.get(key), dict):
            yield from _stages(plan[key])
    for child in plan.get("inputStages", []):
        yield from _stages(child)


def _run(engine: SearchEngine, resource_type: str, query: str) -> None:
    request = parse_search(resource_type, parse_qsl(query), strict=True, default_count=20, max_count=100)
    matches = engine.candidates(resource_type, engine.clauses(request.criteria))
    page = [c for _, c in sort_candidates(matches, request.sort)][: request.count]
    engine.load(resource_type, page)
    included = resolve_includes(engine, [(resource_type, c) for c in page], request.includes, 100)
    for typed_type, candidate in included.resources:
        engine.load(typed_type, [candidate])


@pytest.mark.parametrize(("resource_type", "query"), SEARCHES, ids=[f"{t}?{q}" for t, q in SEARCHES])
def test_search_queries_never_scan_the_collection(
    repository: MongoRepository, seeder: Seeder, resource_type: str, query: str
) -> None:
    recorder = _Recorder(repository)
    engine = SearchEngine(recorder, SearchLimits(), (), SERVER_WIDE)  # type: ignore[arg-type]
    query = (
        query.replace("SYS", seeder.system).replace("ORG", seeder.id("org")).replace("P1", seeder.id("p1"))
    )
    _run(engine, resource_type, query)
    assert recorder.queries, "the search asked the database nothing"
    for queried_type, filter_ in recorder.queries:
        plan = repository.collection(queried_type).find(filter_).explain()["queryPlanner"]["winningPlan"]
        stages = list(_stages(plan))
        assert "COLLSCAN" not in stages and "IXSCAN" in stages, (queried_type, filter_, plan)


def test_the_federation_query_uses_the_search_index_and_id_lookups(
    repository: MongoRepository, seeder: Seeder
) -> None:
    recorder = _Recorder(repository)
    engine = SearchEngine(recorder, SearchLimits(), (), SERVER_WIDE)  # type: ignore[arg-type]
    _run(
        engine,
        "ImagingStudy",
        f"patient.identifier={seeder.system}|1&_include=ImagingStudy:endpoint"
        "&_include:iterate=Endpoint:organization",
    )
    indexes = set()
    for queried_type, filter_ in recorder.queries:
        plan = repository.collection(queried_type).find(filter_).explain()["queryPlanner"]["winningPlan"]
        while "inputStage" in plan:
            plan = plan["inputStage"]
        indexes.add((queried_type, plan["indexName"]))
    assert ("Patient", "search_keys") in indexes and ("ImagingStudy", "search_keys") in indexes
    assert ("Endpoint", "search_keys") in indexes and ("Organization", "search_keys") in indexes


def test_the_plan_check_does_see_a_collection_scan(repository: MongoRepository) -> None:
    # Control: SecantusDB plans a top-level $and as a scan, which is why the engine never sends one.
    filter_ = {"$and": [{"cur": True}, {"sp.k": "_id:code=x"}]}
    plan = repository.collection("Patient").find(filter_).explain()["queryPlanner"]["winningPlan"]
    assert "COLLSCAN" in list(_stages(plan))
