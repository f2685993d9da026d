"""The secured store as an attacker meets it: access limits compiled into every query (totals, counts,
paging, chains and `_has` only see what the caller may see), invisible answered exactly like absent in
conditional writes and bundles, server-owned ids, and conditional creates that race.

Each test builds a private world with a system token, then attacks it with narrower tokens.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from tests.fhir_server.security.smart.smart_support import SmartServer

FHIR = {"Content-Type": "application/fhir+json"}
DCM = "http://dicom.nema.org/resources/ontology/DCM"
STUDY_SYSTEM = "urn:dicom:uid"


@dataclass
class World:
    tag: str
    patient_a: str
    patient_b: str
    endpoint: str
    studies: dict[str, dict[str, Any]]  # name -> resource


def _study(tag: str, name: str, patient: str, modality: str, endpoint: str) -> dict[str, Any]:
    return {
        "resourceType": "ImagingStudy",
        "id": f"ss-{name}-{tag}",
        "status": "available",
        # Distinct names give distinct UIDs on every run (a hash could collide and match another study).
        "identifier": [
            {
                "system": STUDY_SYSTEM,
                "value": f"urn:oid:2.25.{int(tag, 16)}.{int.from_bytes(name.encode(), 'big')}",
            }
        ],
        "subject": {"reference": f"Patient/{patient}"},
        "modality": [{"system": DCM, "code": modality}],
        "endpoint": [{"reference": f"Endpoint/{endpoint}"}],
    }


def make_world(smart: SmartServer) -> World:
    tag = uuid.uuid4().hex[:10]
    a, b, endpoint = f"ss-a-{tag}", f"ss-b-{tag}", f"ss-e-{tag}"
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": a, "name": [{"family": f"Alpha{tag}"}]},
        {
            "resourceType": "Patient",
            "id": b,
            "name": [{"family": f"Beta{tag}"}],
            "identifier": [{"system": "urn:test:nid", "value": f"B-{tag}"}],
        },
        {
            "resourceType": "Endpoint",
            "id": endpoint,
            "status": "active",
            "connectionType": {
                "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                "code": "dicom-wado-rs",
            },
            "payloadType": [{"text": "DICOM"}],
            "address": "https://pacs.example/dicom-web",
        },
    ]
    studies = {
        "a-ct1": _study(tag, "a-ct1", a, "CT", endpoint),
        "a-ct2": _study(tag, "a-ct2", a, "CT", endpoint),
        "a-ct3": _study(tag, "a-ct3", a, "CT", endpoint),
        "a-mr1": _study(tag, "a-mr1", a, "MR", endpoint),
        "a-mr2": _study(tag, "a-mr2", a, "MR", endpoint),
        "b-ct": _study(tag, "b-ct", b, "CT", endpoint),
    }
    entries = [
        {"request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}, "resource": r}
        for r in [*resources, *studies.values()]
    ]
    with smart.client(smart.mint("system/*.cruds", role=None)) as admin:
        response = admin.post(
            "", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}, headers=FHIR
        )
        assert response.status_code == 200, response.text
    return World(tag, a, b, endpoint, studies)


def _patient_client(smart: SmartServer, world: World, scope: str = "patient/*.cruds") -> httpx.Client:
    return smart.client(smart.mint(scope, patient=world.patient_a, role="clinician"))


def _all_pages(c: httpx.Client, url: str) -> list[dict[str, Any]]:
    resources = []
    next_url: str | None = url
    while next_url:
        bundle = c.get(next_url).json()
        resources += [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        next_url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return resources


def test_filtered_v2_scope_counts_and_pages_only_what_it_may_see(smart: SmartServer) -> None:
    world = make_world(smart)
    with smart.client(smart.mint("user/ImagingStudy.rs?modality=CT", role="clinician")) as c:
        query = f"/ImagingStudy?patient=Patient/{world.patient_a}"
        assert c.get(query).json()["total"] == 3
        assert c.get(f"{query}&_summary=count").json()["total"] == 3
        paged = _all_pages(c, f"{query}&_count=1")
        assert sorted(r["id"] for r in paged) == sorted(
            world.studies[n]["id"] for n in ("a-ct1", "a-ct2", "a-ct3")
        )
        # An MR study is answered as absent, by id and by search.
        mr = world.studies["a-mr1"]["id"]
        assert c.get(f"/ImagingStudy/{mr}").status_code == 404
        assert c.get(f"/ImagingStudy?_id={mr}").json()["total"] == 0
        assert c.get("/ImagingStudy?modality=MR&_summary=count").json()["total"] == 0


def test_has_and_chains_never_walk_through_what_the_caller_may_not_see(smart: SmartServer) -> None:
    world = make_world(smart)
    with _patient_client(smart, world, "patient/*.rs") as c:

        def total(query: str) -> int:
            response = c.get(query)
            assert response.status_code == 200, response.text
            return int(response.json()["total"])

        has = "/Endpoint?_has:ImagingStudy:endpoint:patient"
        # Patient B's existence must not show: B's id answers as an id that was never created.
        assert total(f"{has}=Patient/{world.patient_a}") == 1
        assert total(f"{has}=Patient/{world.patient_b}") == total(f"{has}=Patient/nobody-{world.tag}") == 0
        chain = "/ImagingStudy?patient.family"
        assert total(f"{chain}=Alpha{world.tag}") == 5
        assert total(f"{chain}=Beta{world.tag}") == total(f"{chain}=Nobody{world.tag}") == 0
        revinclude = c.get(f"/Endpoint?_id={world.endpoint}&_revinclude=ImagingStudy:endpoint").json()
        included = {e["resource"]["subject"]["reference"] for e in revinclude["entry"][1:]}
        assert included == {f"Patient/{world.patient_a}"}


def test_conditional_writes_answer_invisible_as_absent(smart: SmartServer) -> None:
    world = make_world(smart)
    b_study = world.studies["b-ct"]
    b_ident = f"{STUDY_SYSTEM}|{b_study['identifier'][0]['value']}"
    absent_ident = f"{STUDY_SYSTEM}|urn:oid:2.25.{int(world.tag, 16)}.999999"
    mine = {
        k: v for k, v in _study(world.tag, "new", world.patient_a, "CT", world.endpoint).items() if k != "id"
    }
    with _patient_client(smart, world) as c:
        for ident in (b_ident, absent_ident):
            created = c.post(
                "/ImagingStudy", json=mine, headers={**FHIR, "If-None-Exist": f"identifier={ident}"}
            )
            assert created.status_code == 201, created.text
            updated = c.put(f"/ImagingStudy?identifier={ident}", json=mine, headers=FHIR)
            assert updated.status_code == 201, updated.text
            deleted = c.delete(f"/ImagingStudy?identifier={ident}")
            assert deleted.status_code == 200
            assert "nothing was deleted" in deleted.json()["issue"][0]["diagnostics"]
    with smart.client(smart.mint("system/*.rs", role=None)) as admin:
        assert admin.get(f"/ImagingStudy/{b_study['id']}").json()["subject"]["reference"] == (
            f"Patient/{world.patient_b}"
        )


def test_bundles_answer_invisible_as_absent(smart: SmartServer) -> None:
    world = make_world(smart)
    mine = {
        k: v for k, v in _study(world.tag, "bnew", world.patient_a, "CT", world.endpoint).items() if k != "id"
    }

    def batch_status(query: str) -> str:
        entry = {"request": {"method": "POST", "url": "ImagingStudy", "ifNoneExist": query}, "resource": mine}
        response = c.post(
            "", json={"resourceType": "Bundle", "type": "batch", "entry": [entry]}, headers=FHIR
        )
        return str(response.json()["entry"][0]["response"]["status"])

    def transaction_answer(reference: str) -> tuple[int, str]:
        study = {**mine, "subject": {"reference": reference}}
        entry = {"request": {"method": "POST", "url": "ImagingStudy"}, "resource": study}
        response = c.post(
            "", json={"resourceType": "Bundle", "type": "transaction", "entry": [entry]}, headers=FHIR
        )
        diagnostics = response.json()["issue"][0]["diagnostics"] if response.status_code >= 400 else ""
        return response.status_code, diagnostics.replace(reference, "REF")

    b_ident = world.studies["b-ct"]["identifier"][0]["value"]
    with _patient_client(smart, world) as c:
        assert batch_status(f"identifier={STUDY_SYSTEM}|{b_ident}") == batch_status(
            f"identifier={STUDY_SYSTEM}|absent-{world.tag}"
        )
        b_patient = transaction_answer(f"Patient?identifier=urn:test:nid|B-{world.tag}")
        nobody = transaction_answer(f"Patient?identifier=urn:test:nid|nobody-{world.tag}")
        assert b_patient == nobody and b_patient[0] == 412


def test_clients_cannot_create_in_the_sync_id_space(smart: SmartServer) -> None:
    world = make_world(smart)
    claim = {**world.studies["a-ct1"], "id": f"dcm-{uuid.uuid4().hex}"}
    with smart.client(smart.mint("system/*.cruds", role=None)) as system:
        response = system.put(f"/ImagingStudy/{claim['id']}", json=claim, headers=FHIR)
        assert response.status_code == 403
        assert "assigned by the server" in response.json()["issue"][0]["diagnostics"]
        assert system.get(f"/ImagingStudy/{claim['id']}").status_code == 404
    with _patient_client(smart, world) as patient:
        assert patient.put(f"/ImagingStudy/{claim['id']}", json=claim, headers=FHIR).status_code == 404


def test_parallel_transactions_with_the_same_if_none_exist_create_one(smart: SmartServer) -> None:
    ident = f"urn:test:race|{uuid.uuid4().hex}"
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": ident.split("|")[0], "value": ident.split("|")[1]}],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={ident}"},
                "resource": patient,
            }
        ],
    }
    token = smart.mint("system/*.cruds", role=None)

    def post(_: int) -> int:
        with smart.client(token) as c:
            return c.post("", json=bundle, headers=FHIR).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, range(8)))
    assert set(statuses) == {200}, statuses
    with smart.client(token) as c:
        assert c.get(f"/Patient?identifier={ident}").json()["total"] == 1


def test_bundle_entries_are_capped(smart: SmartServer) -> None:
    entries = [{"request": {"method": "GET", "url": "metadata-none"}} for _ in range(1001)]
    with smart.client(smart.mint("system/*.cruds", role=None)) as c:
        response = c.post(
            "", json={"resourceType": "Bundle", "type": "batch", "entry": entries}, headers=FHIR
        )
    assert response.status_code == 413
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry"]
