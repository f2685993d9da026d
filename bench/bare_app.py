"""The baseline of the core benchmark: a bare Starlette app doing one pymongo operation per request.

Same database, same write concern (journaled), same uvicorn server and same thread-pool use as ours.
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

_client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(os.environ["BARE_MONGO_URI"])
_collection = _client.get_database("bare", write_concern=WriteConcern(w=1, j=True)).get_collection("Patient")


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


app = Starlette(routes=[Route("/fhir/Patient/{id}", read), Route("/fhir/Patient", create, methods=["POST"])])
