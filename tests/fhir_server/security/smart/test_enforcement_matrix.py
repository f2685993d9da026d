"""The scope-enforcement matrix: token kind × resource × interaction → allowed (2xx) or denied: 403 when
the token's scopes refuse it, 404 when the resource is outside what the token may see — answered exactly
as for an id that does not exist (no existence oracle: every denial is compared with the same request on
an absent id).

Reads run against the demo data (Patient A = legacy-pat-901234 with legacy-stu-20240115103000 (DX),
Patient B = legacy-pat-567890 with legacy-stu-20240305140000 (US), Organization legacy-hos-001, Endpoint
legacy-hos-001-dicomweb); every write runs against a fresh copy of that world, so rows do not depend on each
other. Search rows (marked `search_enforcement`) query Patient B's data with Patient A's token and fail on
any leak, whatever the search implementation answers otherwise.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fhir_server.security.enforcement.compartment import patient_of
from tests.fhir_server.security.smart.smart_support import (
    HTTP,
    PATIENT_A,
    PATIENT_B,
    STUDY_A,
    STUDY_B,
    SmartServer,
)

FHIR = {"Content-Type": "application/fhir+json"}
PATCH = {"Content-Type": "application/json-patch+json"}
TARGETS = ("patient-a", "patient-b", "study-a", "study-b", "org", "endpoint")
READS = ("read", "vread", "history")
WRITES = ("create", "update", "patch", "delete")


@dataclass(frozen=True)
class Kind:
    scope: str
    patient_context: bool = False  # launch context = Patient A
    role: str | None = "clinician"
    patient_user: bool = False  # fhirUser = Patient A (a patient logged in as themselves)


KINDS: dict[str, Kind] = {
    "patient-read": Kind("patient/*.rs", patient_context=True),
    "patient-write-only": Kind("patient/*.cud", patient_context=True),
    "patient-all": Kind("patient/*.cruds", patient_context=True),
    "patient-v1-read": Kind("patient/*.read", patient_context=True),
    "patient-no-context": Kind("patient/*.cruds"),
    "patient-user": Kind("user/*.cruds", role="patient", patient_user=True),
    "clinician-read": Kind("user/*.rs"),
    "system-v1-read": Kind("system/*.read", role=None),
    "system-v1-write": Kind("system/*.write", role=None),
    "system-dus-invalid": Kind("system/*.dus", role=None),
    "system-sr-invalid": Kind("system/*.sr", role=None),
    "system-study-dx-only": Kind("system/ImagingStudy.rs?modality=DX", role=None),
    "system-patient-read": Kind("system/Patient.r", role=None),
}
_IN_A = {"patient-a", "study-a"}
_NON_PATIENT = {"org", "endpoint"}
_ALL = set(TARGETS)


def _each(interactions: tuple[str, ...], targets: set[str]) -> dict[str, set[str]]:
    return {i: set(targets) for i in interactions}


# kind -> interaction -> targets where it is allowed (everything else: 403)
ALLOWED: dict[str, dict[str, set[str]]] = {
    "patient-read": {**_each(READS, _IN_A | _NON_PATIENT)},
    "patient-write-only": {"create": {"study-a"}, "update": _IN_A, "patch": _IN_A, "delete": _IN_A},
    "patient-all": {
        **_each(READS, _IN_A | _NON_PATIENT),
        "create": {"study-a"},
        "update": _IN_A,
        "patch": _IN_A,
        "delete": _IN_A,
    },
    "patient-v1-read": {**_each(READS, _IN_A | _NON_PATIENT)},
    "patient-no-context": {},
    "patient-user": {
        **_each(READS, _IN_A | _NON_PATIENT),
        "create": {"study-a"},
        "update": _IN_A,
        "patch": _IN_A,
        "delete": _IN_A,
    },
    "clinician-read": _each(READS, _ALL),
    "system-v1-read": _each(READS, _ALL),
    "system-v1-write": _each(WRITES, _ALL),
    "system-dus-invalid": {},
    "system-sr-invalid": {},
    "system-study-dx-only": _each(READS, {"study-a"}),
    "system-patient-read": {
        "read": {"patient-a", "patient-b"},
        "vread": {"patient-a", "patient-b"},
        "history": {"patient-a", "patient-b"},
    },
}


def token_for(smart: SmartServer, kind: Kind, patient_a: str) -> str:
    return smart.mint(
        kind.scope,
        patient=patient_a if kind.patient_context else None,
        fhir_user=f"Patient/{patient_a}" if kind.patient_user else None,
        role="patient" if kind.patient_user else kind.role,
    )


@dataclass
class World:
    patient_a: str
    paths: dict[str, str]  # target -> "Type/id"
    bodies: dict[str, dict[str, Any]]


DEMO = World(
    PATIENT_A,
    {
        "patient-a": f"Patient/{PATIENT_A}",
        "patient-b": f"Patient/{PATIENT_B}",
        "study-a": f"ImagingStudy/{STUDY_A}",
        "study-b": f"ImagingStudy/{STUDY_B}",
        "org": "Organization/legacy-hos-001",
        "endpoint": "Endpoint/legacy-hos-001-dicomweb",
    },
    {},
)


def fresh_world(smart: SmartServer) -> World:
    """A private copy of the two patients, their studies, a hospital and its endpoint."""
    tag = uuid.uuid4().hex[:10]
    a, b = f"mx-a-{tag}", f"mx-b-{tag}"
    bodies: dict[str, dict[str, Any]] = {
        "patient-a": {"resourceType": "Patient", "id": a, "active": True},
        "patient-b": {"resourceType": "Patient", "id": b, "active": True},
        "study-a": {
            "resourceType": "ImagingStudy",
            "id": f"mx-sa-{tag}",
            "status": "available",
            "subject": {"reference": f"Patient/{a}"},
        },
        "study-b": {
            "resourceType": "ImagingStudy",
            "id": f"mx-sb-{tag}",
            "status": "available",
            "subject": {"reference": f"Patient/{b}"},
        },
        "org": {"resourceType": "Organization", "id": f"mx-o-{tag}", "name": "Matrix Hospital"},
        "endpoint": {
            "resourceType": "Endpoint",
            "id": f"mx-e-{tag}",
            "status": "active",
            "connectionType": {
                "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                "code": "dicom-wado-rs",
            },
            "payloadType": [{"text": "DICOM"}],
            "address": "https://pacs.example/dicom-web",
        },
    }
    entries = [
        {"request": {"method": "PUT", "url": f"{body['resourceType']}/{body['id']}"}, "resource": body}
        for body in bodies.values()
    ]
    with smart.client(smart.mint("system/*.cruds", role=None)) as admin:
        response = admin.post(
            "", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}, headers=FHIR
        )
        assert response.status_code == 200, response.text
    paths = {t: f"{body['resourceType']}/{body['id']}" for t, body in bodies.items()}
    return World(a, paths, bodies)


def attempt(c: httpx.Client, world: World, interaction: str, target: str) -> httpx.Response:
    path = world.paths[target]
    if interaction == "read":
        return c.get(f"/{path}")
    if interaction == "vread":
        return c.get(f"/{path}/_history/1")
    if interaction == "history":
        return c.get(f"/{path}/_history")
    body = dict(world.bodies[target])
    if interaction == "create":
        body.pop("id")
        return c.post(f"/{body['resourceType']}", json=body, headers=FHIR)
    if interaction == "update":
        return c.put(f"/{path}", json=body, headers=FHIR)
    if interaction == "patch":
        op = [{"op": "add", "path": "/meta", "value": {"tag": [{"code": "patched"}]}}]
        return c.patch(f"/{path}", json=op, headers=PATCH)
    assert interaction == "delete"
    return c.delete(f"/{path}")


CASES = [(k, i, t) for k in KINDS for i in (*READS, *WRITES) for t in TARGETS]
# One private world per (kind, write interaction): each of its targets is written once, by one row.
_WORLDS: dict[tuple[str, str], World] = {}


def world_for(smart: SmartServer, kind: str, interaction: str) -> World:
    if interaction in READS:
        return DEMO
    if (kind, interaction) not in _WORLDS:
        _WORLDS[(kind, interaction)] = fresh_world(smart)
    return _WORLDS[(kind, interaction)]


@pytest.mark.parametrize(("kind", "interaction", "target"), CASES, ids=[f"{k}-{i}-{t}" for k, i, t in CASES])
def test_matrix(smart: SmartServer, kind: str, interaction: str, target: str) -> None:
    world = world_for(smart, kind, interaction)
    allowed = target in ALLOWED[kind].get(interaction, set())
    with smart.client(token_for(smart, KINDS[kind], world.patient_a)) as c:
        response = attempt(c, world, interaction, target)
        if allowed:
            assert response.status_code in (200, 201), f"{kind} {interaction} {target}: {response.text[:300]}"
            return
        assert response.status_code in (403, 404), (
            f"{kind} {interaction} {target}: {response.status_code} {response.text[:300]}"
        )
        absent_world, absent_id = absent_twin(world, target)
        absent = attempt(c, absent_world, interaction, target)
    real_id = world.paths[target].split("/")[1]
    assert absent.status_code == response.status_code, (
        f"{kind} {interaction} {target}: {response.status_code} but {absent.status_code} for an absent id"
    )
    assert _diagnostics(absent).replace(absent_id, "ID") == _diagnostics(response).replace(real_id, "ID")
    if response.status_code == 403:
        assert response.json()["issue"][0]["code"] == "forbidden"
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def absent_twin(world: World, target: str) -> tuple[World, str]:
    """The same world with `target` replaced by an id that was never created."""
    resource_type = world.paths[target].split("/")[0]
    absent_id = f"absent-{uuid.uuid4().hex[:10]}"
    bodies = dict(world.bodies)
    if target in bodies:
        bodies[target] = {**bodies[target], "id": absent_id}
    return World(world.patient_a, {**world.paths, target: f"{resource_type}/{absent_id}"}, bodies), absent_id


def _diagnostics(response: httpx.Response) -> str:
    body = response.json()
    return " ".join(str(i.get("diagnostics", "")) for i in body.get("issue", []))


def test_study_cannot_be_moved_into_or_out_of_the_compartment(smart: SmartServer) -> None:
    world = fresh_world(smart)
    with smart.client(token_for(smart, KINDS["patient-all"], world.patient_a)) as c:
        to_b = {**world.bodies["study-a"], "subject": {"reference": world.paths["patient-b"]}}
        assert c.put(f"/{world.paths['study-a']}", json=to_b, headers=FHIR).status_code == 403
        # Taking over Patient B's study: it is not visible to A, so it answers as an absent id does (a
        # patient-level token cannot create by id either).
        steal = {**world.bodies["study-b"], "subject": {"reference": world.paths["patient-a"]}}
        assert c.put(f"/{world.paths['study-b']}", json=steal, headers=FHIR).status_code == 404
        absent = {**steal, "id": f"absent-{uuid.uuid4().hex[:8]}"}
        assert c.put(f"/ImagingStudy/{absent['id']}", json=absent, headers=FHIR).status_code == 404
        new_b = {
            "resourceType": "ImagingStudy",
            "id": f"new-{uuid.uuid4().hex[:8]}",
            "status": "available",
            "subject": {"reference": world.paths["patient-b"]},
        }
        assert c.put(f"/ImagingStudy/{new_b['id']}", json=new_b, headers=FHIR).status_code == 403


@pytest.mark.parametrize(
    ("kind", "path", "expected"),
    [
        ("clinician-read", "/ImagingStudy/_history", 200),
        ("system-v1-read", "/_history", 200),
        ("patient-read", "/ImagingStudy/_history", 403),
        ("patient-user", "/Patient/_history", 403),
        ("patient-read", "/_history", 403),
        ("system-v1-write", "/ImagingStudy/_history", 403),
        ("system-study-dx-only", "/ImagingStudy/_history", 403),
        ("system-patient-read", "/_history", 403),
    ],
)
def test_type_and_system_history(smart: SmartServer, kind: str, path: str, expected: int) -> None:
    with smart.client(token_for(smart, KINDS[kind], PATIENT_A)) as c:
        assert c.get(path + "?_count=2").status_code == expected


def test_validate_needs_write_access(smart: SmartServer) -> None:
    body = {"resourceType": "Patient", "active": True}
    for kind, expected in (("patient-read", 403), ("patient-write-only", 200), ("system-v1-write", 200)):
        with smart.client(token_for(smart, KINDS[kind], PATIENT_A)) as c:
            assert c.post("/Patient/$validate", json=body, headers=FHIR).status_code == expected, kind


def test_terminology_reads_need_only_a_valid_token(smart: SmartServer) -> None:
    with smart.client(token_for(smart, KINDS["patient-read"], PATIENT_A)) as c:
        assert c.get("/CodeSystem?_count=1").status_code == 200
    assert HTTP.get(f"{smart.base_url}/CodeSystem?_count=1").status_code == 401


def test_batch_entries_are_checked_one_by_one(smart: SmartServer) -> None:
    world = fresh_world(smart)
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": world.paths["patient-a"]}},
            {"request": {"method": "GET", "url": world.paths["patient-b"]}},
            {"request": {"method": "GET", "url": f"{world.paths['study-b']}/_history/1"}},
            {
                "request": {"method": "PUT", "url": world.paths["study-b"]},
                "resource": world.bodies["study-b"],
            },
            {"request": {"method": "DELETE", "url": world.paths["study-b"]}},
            {
                "request": {"method": "PUT", "url": world.paths["study-a"]},
                "resource": world.bodies["study-a"],
            },
        ],
    }
    with smart.client(token_for(smart, KINDS["patient-all"], world.patient_a)) as c:
        response = c.post("", json=bundle, headers=FHIR)
    assert response.status_code == 200, response.text
    statuses = [e["response"]["status"].split()[0] for e in response.json()["entry"]]
    # Invisible resources answer 404 as absent ones do; writing B's content is refused by the scopes (403).
    assert statuses == ["200", "404", "404", "403", "404", "200"]
    with smart.client(smart.mint("system/*.rs", role=None)) as admin:
        assert admin.get(f"/{world.paths['study-b']}").status_code == 200  # B's study untouched


def test_transaction_fails_whole_when_one_entry_is_denied(smart: SmartServer) -> None:
    world = fresh_world(smart)
    own = {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": {"reference": world.paths["patient-a"]},
    }
    other = {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": {"reference": world.paths["patient-b"]},
    }
    entries = [{"request": {"method": "POST", "url": "ImagingStudy"}, "resource": own}]
    with smart.client(token_for(smart, KINDS["patient-all"], world.patient_a)) as c:
        ok = c.post(
            "", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}, headers=FHIR
        )
        assert ok.status_code == 200, ok.text
        entries.append({"request": {"method": "POST", "url": "ImagingStudy"}, "resource": other})
        denied = c.post(
            "", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}, headers=FHIR
        )
        assert denied.status_code == 403


def test_conditional_delete_stays_in_the_compartment(smart: SmartServer) -> None:
    world = fresh_world(smart)
    study_b = world.paths["study-b"].split("/")[1]
    with smart.client(token_for(smart, KINDS["patient-all"], world.patient_a)) as c:
        response = c.delete(f"/ImagingStudy?_id={study_b}")
        assert response.status_code in (200, 204, 403), response.text
        assert c.delete("/ImagingStudy?_id=x").status_code in (200, 204)
    with smart.client(smart.mint("system/*.rs", role=None)) as admin:
        assert admin.get(f"/{world.paths['study-b']}").status_code == 200


def test_conditional_writes_need_search_access(smart: SmartServer) -> None:
    with smart.client(token_for(smart, KINDS["patient-write-only"], PATIENT_A)) as c:
        assert c.delete(f"/ImagingStudy?_id={STUDY_A}").status_code == 403


# -- search: must never show Patient B's data to Patient A's token ---------------------------------------


def _leaks(response: httpx.Response, base_url: str) -> list[str]:
    if response.status_code != 200:
        return []
    body = response.json()
    resources = (
        [e.get("resource") or {} for e in body.get("entry", [])]
        if body.get("resourceType") == "Bundle"
        else [body]
    )
    return [
        f"{r.get('resourceType')}/{r.get('id')}"
        for r in resources
        if r.get("resourceType") in ("Patient", "ImagingStudy")
        and patient_of(r["resourceType"], r, base_url) != PATIENT_A
    ]


SEARCHES = [
    f"/ImagingStudy?patient={PATIENT_B}",
    f"/ImagingStudy?subject=Patient/{PATIENT_B}",
    f"/ImagingStudy?_id={STUDY_B}",
    "/ImagingStudy",
    f"/Patient?_id={PATIENT_B}",
    "/Patient",
    "/Patient?_revinclude=ImagingStudy:subject",
    "/ImagingStudy?_include=ImagingStudy:subject",
    "/ImagingStudy?patient.identifier=198507151234567890",
    "/Patient?_has:ImagingStudy:patient:modality=US",
    "/Endpoint?_revinclude=ImagingStudy:endpoint",
    f"/Patient/{PATIENT_B}/$everything",
]


@pytest.mark.search_enforcement
@pytest.mark.parametrize("kind", ["patient-read", "patient-user", "patient-write-only"])
@pytest.mark.parametrize("path", SEARCHES)
def test_search_never_leaks_patient_b(smart: SmartServer, kind: str, path: str) -> None:
    with smart.client(token_for(smart, KINDS[kind], PATIENT_A)) as c:
        response = c.get(path)
    assert response.status_code < 500, response.text
    assert _leaks(response, smart.base_url) == [], f"{kind} GET {path} leaked Patient B's data"
    if kind == "patient-write-only":
        assert response.status_code in (403, 404, 405) or not response.json().get("entry"), (
            "write scope read data"
        )
