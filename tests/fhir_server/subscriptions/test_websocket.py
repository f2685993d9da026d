"""The websocket channel (Backport IG websockets): a binding token from `$get-ws-binding-token`, then
`bind-with-token` on the websocket; a handshake, then each new event as it is recorded. The token is single
use, and only the subscription's owner gets one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.fhir_server.subscriptions.harness import World, subscription

CLINICIAN = {"scope": "user/*.cruds", "fhir_user": "Practitioner/dr-ws"}


def _kind(message: str | bytes) -> tuple[str, list[str]]:
    bundle = json.loads(message)
    parameters = bundle["entry"][0]["resource"]["parameter"]
    kind = next(p["valueCode"] for p in parameters if p["name"] == "type")
    foci = [
        next(x for x in p["part"] if x["name"] == "focus")["valueReference"]["reference"].split("/fhir/")[1]
        for p in parameters
        if p["name"] == "notification-event"
    ]
    return kind, foci


def _binding(parameters: dict[str, Any]) -> tuple[str, str]:
    found = {p["name"]: p for p in parameters["parameter"]}
    return found["websocket-url"]["valueUrl"], found["token"]["valueString"]


def test_a_bound_websocket_gets_the_handshake_then_each_new_study(world: World, ole: str) -> None:
    with world.client(**CLINICIAN) as http:
        created = http.post(
            "/Subscription",
            json=subscription(filters=f"ImagingStudy?patient=Patient/{ole}", channel="websocket"),
        )
        assert created.status_code == 201, created.text
        sub_id = created.json()["id"]
        assert created.json()["status"] == "active"  # no handshake over HTTP to wait for
        url, token = _binding(http.post(f"/Subscription/{sub_id}/$get-ws-binding-token").json())
        with world.client("patient/*.rs", patient=ole, fhir_user=f"Patient/{ole}", role="patient") as other:
            assert other.post(f"/Subscription/{sub_id}/$get-ws-binding-token").status_code == 404
    with connect(url, open_timeout=10) as ws:
        ws.send(f"bind-with-token {token}")
        assert _kind(ws.recv(timeout=10))[0] == "handshake"
        with world.client("system/*.cruds", role=None) as writer:
            study = writer.post(
                "/ImagingStudy",
                json={
                    "resourceType": "ImagingStudy",
                    "status": "available",
                    "subject": {"reference": f"Patient/{ole}"},
                },
            ).json()
        kind, foci = _kind(ws.recv(timeout=10))
        assert (kind, foci) == ("event-notification", [f"ImagingStudy/{study['id']}"])
    # The token was used: a second bind with it is refused.
    with connect(url, open_timeout=10) as again:
        again.send(f"bind-with-token {token}")
        with pytest.raises(ConnectionClosed) as closed:
            again.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
