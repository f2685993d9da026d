"""Rest-hook subscriptions end to end, as an EHR uses them: subscribe to a patient's imaging, a study arrives
in the hospital's real Orthanc and is synced, and the EHR's endpoint (a loopback HTTP server here) is told
exactly once, with the right focus and event number; handshake and heartbeats; the endpoint down for a while
(nothing lost, nothing duplicated), the server killed between the event and its delivery, `$events` replays,
a failing endpoint ends in `error`; and what a patient's token may subscribe to.

The tests of this module run in order on one server: the event numbers of the first subscription grow
from test to test."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.fhir_server.shl.shl_client import create as create_link
from tests.fhir_server.shl.shl_client import fetch_files
from tests.fhir_server.subscriptions.harness import (
    ASTRID,
    MERGE_TOPIC,
    NATIONAL_SYSTEM,
    OLE,
    SHL_TOPIC,
    STUDY_TOPIC,
    World,
    subscription,
    until,
)

CLINICIAN = {"scope": "user/*.cruds", "fhir_user": "Practitioner/dr-sub"}


@pytest.fixture(scope="module")
def subscribed(world: World, astrid: str) -> dict[str, Any]:
    """The clinician's subscription to Astrid's imaging, heartbeat every second."""
    with world.client(**CLINICIAN) as http:
        body = subscription(
            filters=f"ImagingStudy?patient=Patient/{astrid}", endpoint=world.receiver.url(), heartbeat=1
        )
        created = http.post("/Subscription", json=body)
    assert created.status_code == 201, created.text
    resource: dict[str, Any] = created.json()
    assert resource["status"] == "requested" and created.headers["Location"].endswith("/_history/1")
    return resource


def _numbers(world: World, sub_id: str) -> list[int]:
    return [n for r in world.receiver.of(sub_id, "event-notification") for n, _ in r.events()]


def test_handshake_then_heartbeats_and_the_subscription_is_active(
    world: World, subscribed: dict[str, Any]
) -> None:
    sub_id = subscribed["id"]
    handshake = until(lambda: world.receiver.of(sub_id, "handshake"), 10, "handshake")[0]
    assert handshake.bundle["type"] == "history"
    assert handshake.headers["Content-Type"].startswith("application/fhir+json")
    until(lambda: len(world.receiver.of(sub_id, "heartbeat")) >= 2, 10, "two heartbeats")
    with world.client(**CLINICIAN) as http:
        assert http.get(f"/Subscription/{sub_id}").json()["status"] == "active"


def test_a_synced_study_is_notified_exactly_once_with_its_focus(
    world: World, subscribed: dict[str, Any], astrid: str, ole: str
) -> None:
    sub_id = subscribed["id"]
    with world.client(**CLINICIAN) as http:
        by_national_id = http.post(
            "/Subscription",
            json=subscription(
                filters=f"ImagingStudy?identifier={NATIONAL_SYSTEM}|{ASTRID.national_id}&modality=CT",
                endpoint=world.receiver.url("by-national-id"),
                content="full-resource",
            ),
        ).json()
        for_ole = http.post(
            "/Subscription",
            json=subscription(
                filters=f"ImagingStudy?patient=Patient/{ole}", endpoint=world.receiver.url("ole")
            ),
        ).json()
    until(lambda: world.receiver.of(by_national_id["id"], "handshake"), 10, "handshake")
    world.upload(ASTRID, "ACC-S-1", "CT of Astrid")
    world.sync()
    study = world.study("CT of Astrid")
    until(lambda: _numbers(world, sub_id), 15, "the notification")
    notes = world.receiver.of(sub_id, "event-notification")
    assert [r.events() for r in notes] == [[(1, f"ImagingStudy/{study['id']}")]]
    assert notes[0].status["events-since-subscription-start"]["valueString"] == "1"
    entry = notes[0].bundle["entry"][1]
    assert entry["fullUrl"].endswith(f"/ImagingStudy/{study['id']}") and "resource" not in entry  # id-only
    # The national ID filter (through the study's Patient) matched too, with the resource in full.
    full = until(lambda: world.receiver.of(by_national_id["id"], "event-notification"), 15, "by national ID")
    assert full[0].events() == [(1, f"ImagingStudy/{study['id']}")]
    assert full[0].bundle["entry"][1]["resource"]["id"] == study["id"]
    # Nothing for the subscriber to Ole's imaging, and nothing more after a second sync finds nothing new.
    world.sync()
    assert not world.receiver.of(for_ole["id"], "event-notification")
    assert _numbers(world, sub_id) == [1]


def test_an_endpoint_down_for_a_while_gets_everything_once(world: World, subscribed: dict[str, Any]) -> None:
    sub_id = subscribed["id"]
    world.receiver.stop()
    try:
        world.upload(ASTRID, "ACC-S-2", "MR of Astrid", "MR_small.dcm")
        world.upload(ASTRID, "ACC-S-3", "second CT of Astrid")
        world.sync()
        with world.client(**CLINICIAN) as http:

            def recorded() -> dict[str, Any] | None:
                status = http.get(f"/Subscription/{sub_id}/$status").json()
                parameters = {p["name"]: p for p in status["entry"][0]["resource"]["parameter"]}
                return (
                    parameters
                    if parameters["events-since-subscription-start"]["valueString"] == "3"
                    else None
                )

            parameters = until(recorded, 15, "3 events recorded")
            assert parameters["status"]["valueCode"] == "active"
    finally:
        world.receiver.start()
    until(lambda: _numbers(world, sub_id) == [1, 2, 3], 30, "events 2 and 3 after the endpoint came back")
    foci = {focus for r in world.receiver.of(sub_id, "event-notification") for _, focus in r.events()}
    expected = {
        f"ImagingStudy/{world.study(d)['id']}"
        for d in ("CT of Astrid", "MR of Astrid", "second CT of Astrid")
    }
    assert foci == expected


def test_delivery_survives_a_server_killed_before_it(world: World, subscribed: dict[str, Any]) -> None:
    sub_id = subscribed["id"]
    world.receiver.stop()
    try:
        world.upload(ASTRID, "ACC-S-4", "X-ray of Astrid")
        world.sync()
        with world.client(**CLINICIAN) as http:
            until(
                lambda: [
                    p
                    for p in http.get(f"/Subscription/{sub_id}/$events?eventsSinceNumber=4").json()["entry"][
                        0
                    ]["resource"]["parameter"]
                    if p["name"] == "notification-event"
                ],
                15,
                "event 4 recorded",
            )
        world.stop(signal.SIGKILL)  # no shutdown at all: the outbox in the database is all that is left
    finally:
        world.receiver.start()
    world.start()
    until(lambda: _numbers(world, sub_id) == [1, 2, 3, 4], 40, "event 4 after the restart")


def test_events_replays_missed_events_by_number(world: World, subscribed: dict[str, Any]) -> None:
    with world.client(**CLINICIAN) as http:
        replay = http.get(
            f"/Subscription/{subscribed['id']}/$events",
            params={"eventsSinceNumber": "2", "eventsUntilNumber": "3", "content": "full-resource"},
        ).json()
    status = {p["name"]: p for p in replay["entry"][0]["resource"]["parameter"]}
    assert status["type"]["valueCode"] == "query-event"
    numbers = [
        int(next(x for x in p["part"] if x["name"] == "event-number")["valueString"])
        for p in replay["entry"][0]["resource"]["parameter"]
        if p["name"] == "notification-event"
    ]
    assert numbers == [2, 3]
    described = {e["resource"]["description"] for e in replay["entry"][1:]}
    assert described == {"MR of Astrid", "second CT of Astrid"}


def test_a_patient_token_subscribes_only_to_its_own_patient(
    world: World, subscribed: dict[str, Any], astrid: str, ole: str
) -> None:
    body = subscription(endpoint=world.receiver.url("patient-app"))
    with world.client("patient/*.rs", patient=astrid, fhir_user=f"Patient/{astrid}", role="patient") as app:
        for filters in (
            f"ImagingStudy?patient=Patient/{ole}",
            None,
            f"ImagingStudy?identifier={OLE.national_id}",
        ):
            refused = app.post(
                "/Subscription", json={**subscription(filters=filters, endpoint=world.receiver.url())}
            )
            assert refused.status_code == 403, (filters, refused.text)
        own = app.post(
            "/Subscription",
            json=subscription(filters=f"ImagingStudy?patient={astrid}", endpoint=body["channel"]["endpoint"]),
        )
        assert own.status_code == 201, own.text
        # The clinician's subscription is not the app's to see: 404, as for one that does not exist.
        assert app.get(f"/Subscription/{subscribed['id']}").status_code == 404
        assert app.get(f"/Subscription/{subscribed['id']}/$events").status_code == 404
        assert [e["resource"]["id"] for e in app.get("/Subscription").json()["entry"]] == [own.json()["id"]]
    with world.client(**CLINICIAN) as http:
        assert own.json()["id"] not in {
            e["resource"]["id"] for e in http.get("/Subscription").json()["entry"]
        }


def test_bad_subscriptions_are_refused_naming_the_element(world: World, astrid: str) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            subscription("https://example.org/no-such-topic", endpoint=world.receiver.url()),
            "Subscription.criteria",
            "no-such-topic",
        ),
        (
            subscription(filters="ImagingStudy?bodysite=chest", endpoint=world.receiver.url()),
            "Subscription.criteria.extension[0].valueString",
            "bodysite",
        ),
        (
            subscription(filters=f"Patient?patient={astrid}", endpoint=world.receiver.url()),
            "Subscription.criteria.extension[0].valueString",
            "Patient?",
        ),
        (subscription(endpoint="http://10.0.0.7/hook"), "Subscription.channel.endpoint", "https"),
        (subscription(endpoint="file:///etc/passwd"), "Subscription.channel.endpoint", "https"),
        (subscription(), "Subscription.channel.endpoint", "endpoint"),
        (
            subscription(endpoint=world.receiver.url(), status="active") | {"channel": {"type": "email"}},
            "Subscription.channel.type",
            "email",
        ),
    ]
    with world.client(**CLINICIAN) as http:
        for body, expression, named in cases:
            answer = http.post("/Subscription", json=body)
            assert answer.status_code == 400, (body, answer.text)
            issue = answer.json()["issue"][0]
            assert issue["expression"] == [expression] and named in issue["diagnostics"], issue
        assert (
            http.post(
                "/Subscription", content=b"{", headers={"Content-Type": "application/fhir+json"}
            ).status_code
            == 400
        )


def test_a_failing_endpoint_puts_the_subscription_in_error(world: World, astrid: str) -> None:
    with world.client(**CLINICIAN) as http:
        failing = http.post(
            "/Subscription",
            json=subscription(filters=f"ImagingStudy?patient={astrid}", endpoint=world.receiver.url("fail")),
        ).json()

        def errored() -> dict[str, Any] | None:
            read = http.get(f"/Subscription/{failing['id']}").json()
            return read if read["status"] == "error" else None

        read = until(errored, 60, "error after the bounded attempts")
        assert "500" in read["error"]
        # Its owner asks for it again: a new handshake is attempted (and fails again, so far).
        again = http.put(f"/Subscription/{failing['id']}", json={**read, "status": "requested"})
        assert again.status_code == 200 and again.json()["status"] == "requested"


def test_a_merge_is_notified(world: World) -> None:
    with world.client("system/*.cruds", role=None) as http:
        source = http.post(
            "/Patient", json={"resourceType": "Patient", "name": [{"family": "Source"}]}
        ).json()
        target = http.post(
            "/Patient", json={"resourceType": "Patient", "name": [{"family": "Target"}]}
        ).json()
        sub = http.post(
            "/Subscription",
            json=subscription(
                MERGE_TOPIC, f"Patient?patient=Patient/{target['id']}", endpoint=world.receiver.url("merge")
            ),
        ).json()
        until(lambda: world.receiver.of(sub["id"], "handshake"), 10, "handshake")
        merged = http.post(
            "/Patient/$merge",
            json={
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "source-patient", "valueReference": {"reference": f"Patient/{source['id']}"}},
                    {"name": "target-patient", "valueReference": {"reference": f"Patient/{target['id']}"}},
                ],
            },
        )
        assert merged.status_code == 200, merged.text
    note = until(lambda: world.receiver.of(sub["id"], "event-notification"), 15, "merge notification")
    assert note[0].events() == [(1, f"Patient/{source['id']}")]


def test_the_topics_are_discoverable(world: World) -> None:
    with world.client(**CLINICIAN) as http:
        topics = http.get("/SubscriptionTopic").json()
        assert {e["resource"]["url"] for e in topics["entry"]} == {STUDY_TOPIC, MERGE_TOPIC, SHL_TOPIC}
        study = http.get("/SubscriptionTopic/imaging-study-available").json()
        assert {f["filterParameter"] for f in study["canFilterBy"]} == {
            "patient",
            "identifier",
            "endpoint",
            "organization",
            "modality",
        }
        statement = http.get("/metadata").json()
    entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription")
    assert {e["valueCanonical"] for e in entry["extension"]} == {STUDY_TOPIC, MERGE_TOPIC, SHL_TOPIC}


def test_an_opened_share_link_is_notified(world: World, ole: str) -> None:
    with world.client(**CLINICIAN) as http:
        sub = http.post(
            "/Subscription",
            json=subscription(SHL_TOPIC, f"Patient?patient={ole}", endpoint=world.receiver.url("shl")),
        ).json()
        until(lambda: world.receiver.of(sub["id"], "handshake"), 10, "handshake")
        link = create_link(http, f"Patient/{ole}")
    fetch_files(link["link"])  # the receiver of the link opens it: manifest, then its files
    note = until(lambda: world.receiver.of(sub["id"], "event-notification"), 15, "share link notification")
    assert note[0].events() == [(1, f"Patient/{ole}")]


def test_a_subscriber_is_told_only_of_what_its_scopes_let_it_see(world: World, astrid: str) -> None:
    ct_only = {"scope": "user/ImagingStudy.rs?modality=CT user/Patient.rs", "fhir_user": "Practitioner/dr-ct"}
    with world.client(**ct_only) as http:
        created = http.post(
            "/Subscription",
            json=subscription(
                filters=f"ImagingStudy?patient={astrid}", endpoint=world.receiver.url("ct-only")
            ),
        )
        assert created.status_code == 201, created.text
        sub_id = created.json()["id"]
    until(lambda: world.receiver.of(sub_id, "handshake"), 10, "handshake")
    world.upload(ASTRID, "ACC-S-7", "hidden MR of Astrid", "MR_small.dcm")
    world.upload(ASTRID, "ACC-S-8", "visible CT of Astrid")
    world.sync()
    ct = world.study("visible CT of Astrid")
    until(lambda: world.receiver.of(sub_id, "event-notification"), 15, "the CT's notification")
    world.sync()  # time for anything else to arrive
    foci = [focus for r in world.receiver.of(sub_id, "event-notification") for _, focus in r.events()]
    assert foci == [f"ImagingStudy/{ct['id']}"]
