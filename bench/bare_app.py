"""The baselines of the benchmarks: a bare Starlette app doing one pymongo operation per request, and a
route answering constant bytes (the framework ceiling: uvicorn + Starlette routing, no database).

Same database, same write concern (journaled), same uvicorn server and same thread-pool use as ours.
Used by bench/core_bench.py and bench/load.py.
"""

from __future__ import annotations

import os
import uuid

import orjson
import pymongo
from pymongo.write_concern import WriteConcern
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# MongoClient connects lazily: the constant route never touches the database.
_client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(os.environ["BARE_MONGO_URI"])
_collection = _client.get_database("bare", write_concern=WriteConcern(w=1, j=True)).get_collection("Patient")

# About the size of one of the benchmark's Patients as our server answers it.
_CONSTANT = orjson.dumps(
    {
        "resourceType": "Patient",
        "id": "00000000-0000-0000-0000-000000000000",
        "meta": {"versionId": "1", "lastUpdated": "2024-01-01T00:00:00.000+00:00"},
        "identifier": [{"system": "urn:bench:mrn", "value": "MRN-000000"}],
        "name": [{"family": "Bench", "given": ["Mark"]}],
        "gender": "other",
        "birthDate": "1980-02-03",
    }
)


async def read(request: Request) -> Response:
    doc = await run_in_threadpool(_collection.find_one, {"_id": request.path_params["id"]})
    if doc is None:
        return Response(status_code=404)
    return Response(orjson.dumps(doc["res"]), media_type="application/fhir+json")


async def create(request: Request) -> Response:
    resource = orjson.loads(await request.body())
    resource["id"] = str(uuid.uuid4())
    await run_in_threadpool(_collection.insert_one, {"_id": resource["id"], "res": resource})
    return Response(orjson.dumps(resource), status_code=201, media_type="application/fhir+json")


async def constant(request: Request) -> Response:
    return Response(_CONSTANT, media_type="application/fhir+json")


app = Starlette(
    routes=[
        Route("/fhir/Patient/{id}", read),
        Route("/fhir/Patient", create, methods=["POST"]),
        Route("/constant", constant),
    ]
)
