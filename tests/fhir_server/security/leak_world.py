"""The world the leak matrix probes: the demo's patients and studies (read back from the running server,
since study UIDs are made afresh at every demo load), a few spare resources that write probes may aim at,
the callers and what each of them must not see.

A `Thing` is everything a request may name about one patient and one of their studies. Each probe is sent
once naming another patient's Thing and once naming `absent_like(thing)`: the same shape (same lengths,
same prefixes, same endpoint), but nothing that exists. Any difference between the two answers is an
existence oracle.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Any

import httpx

from fhir_server.demo import dataset

# Demo patients (fhir_server/demo/dataset.py): John Doe (A) has an XR study (DX images) at HOS-001 and a CT
# at HOS-002; Amina Mwakyusa (B) an ultrasound at HOS-003; Baraka Kimaro (C) a wrist XR at HOS-001.
PATIENT_A, PATIENT_B, PATIENT_C = "legacy-pat-901234", "legacy-pat-567890", "legacy-pat-112233"
STUDY_A_DX, STUDY_A_CT = "legacy-stu-20240115103000", "legacy-stu-20240220091500"
STUDY_B_US, STUDY_C_DX = "legacy-stu-20240305140000", "legacy-stu-20240410080000"
VISIBLE_MODALITY = "CT"  # the filtered clinicians' scope: user/ImagingStudy.rs?modality=CT
PASSWORD = "correct horse battery staple"
PUBLIC_APP = "leak-viewer"
REDIRECT = "http://127.0.0.1:9/callback"  # never contacted: the flow stops at the consent page
DICOM_UID = "urn:dicom:uid"


class Aspect(Enum):
    """What of the target a probe's request names, which decides whether a caller may tell it apart from an
    absent one (a clinician with Patient access may see Patient B, but not B's ultrasound)."""

    PATIENT = "patient"  # the Patient resource and what hangs on it as a whole ($everything, $shl, users)
    STUDIES = "studies"  # a patient's studies, named through the patient (patient=, PatientID=, chains)
    STUDY = "study"  # one study, named by its id, UID, series or accession number
    ADMIN = "admin"  # an AuditEvent or user account: administrators only
    NONE = "none"  # names nothing: a listing, checked for what it shows


@dataclass(frozen=True)
class Thing:
    """One patient and one of their studies, and everything a request may name about them. Every field but
    `label`, `modality` and `endpoint` is a secret a caller may only know when it may see the Thing."""

    label: str
    patient: str
    dicom_patient_id: str  # PatientID in the DICOM headers (the old application's id)
    family: str
    given: str
    national_id: str
    phone: str
    birth_date: str  # YYYY-MM-DD
    study: str
    study_uid: str
    series_uid: str
    instance_uid: str
    accession: str
    spare_study: str  # a study of the same patient and modality that write probes may aim at
    spare_uid: str
    deleted_study: str  # a study of the same patient, deleted at set-up (410 for those who may see it)
    spare_user: str  # a user account bound to the patient, for the admin API's write probes
    new_user: str  # a user name that admin probes may try to create for this patient
    link: str  # SMART Health Link management id (made at set-up by the system token)
    revocable_link: str  # another link, for $shl-revoke probes
    study_link: str  # a link to the study alone, listed among the patient's links
    audit_event: str  # an AuditEvent about this patient
    subscription: str  # a Subscription to the patient's studies (made at set-up by the system token)
    spare_subscription: str  # another, for DELETE probes
    modality: str = ""
    endpoint: str = ""  # DICOMweb endpoint id serving the study (not secret: hospitals are public)

    def secrets(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _PUBLIC_FIELDS}


_PUBLIC_FIELDS = {"label", "modality", "endpoint"}
# What names the patient rather than the study: an absent study of a patient the caller may see is an absent
# study of that same patient.
PATIENT_FIELDS = (
    "patient",
    "dicom_patient_id",
    "family",
    "given",
    "national_id",
    "phone",
    "birth_date",
    "link",
    "revocable_link",
    "audit_event",
    "spare_user",
    "new_user",
)


def absent_like(thing: Thing, rng: random.Random) -> Thing:
    """The same shape with nothing that exists: digits (or, in values without many digits, letters) drawn
    anew, so lengths, prefixes and separators stay as they are and only existence differs."""
    changed = {name: _reshape(value, rng) for name, value in thing.secrets().items()}
    # A date must stay a valid date (else it is a 400, not an empty result): one before anyone's birth.
    changed["birth_date"] = f"18{rng.randrange(10, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}"
    return replace(thing, label=f"absent-{thing.label}", **changed)


def _reshape(value: str, rng: random.Random) -> str:
    digits = sum(c.isdigit() for c in value)
    out = []
    previous = "."
    for char in value:
        if char.isdigit() and digits >= 4:
            # A UID component must not gain a leading zero (PS3.5 §9.1): keep it a valid UID.
            out.append(rng.choice("123456789" if previous in ".-:" else string.digits))
        elif char.isalpha() and digits < 4:
            pool = string.ascii_uppercase if char.isupper() else string.ascii_lowercase
            out.append(rng.choice(pool))
        else:
            out.append(char)
        previous = char
    reshaped = "".join(out)
    return reshaped if reshaped != value else _reshape(value, rng)


@dataclass(frozen=True)
class Caller:
    name: str
    scope: str | None  # None: no token at all
    role: str | None = None
    patient: str | None = None  # launch context
    fhir_user: str | None = None
    own: str = "A"  # the Thing it may see (requests naming it are checked for what else they show)
    others: tuple[str, ...] = ("B",)  # Things whose requests are compared with absent ones
    username: str | None = None  # a signed-in browser session (login pages), when the caller is a user
    filtered: bool = False  # sees only CT studies
    sees_patients: bool = False  # (filtered callers) may read every Patient


CALLERS: dict[str, Caller] = {
    c.name: c
    for c in (
        Caller("A-launch", "patient/*.rs", "patient", PATIENT_A, f"Patient/{PATIENT_A}"),
        Caller("A-user", "user/*.cruds", "patient", None, f"Patient/{PATIENT_A}", username="ingrid"),
        Caller("B-launch", "patient/*.rs", "patient", PATIENT_B, f"Patient/{PATIENT_B}", "B", ("A",), "lars"),
        Caller(
            "clinician-CT",
            "user/ImagingStudy.rs?modality=CT",
            "clinician",
            fhir_user="Practitioner/dr-who",
            others=("B", "A-DX"),
            filtered=True,
        ),
        Caller(
            "clinician-CT+Patient",
            "user/ImagingStudy.rs?modality=CT user/Patient.rs",
            "clinician",
            fhir_user="Practitioner/dr-who",
            others=("B", "A-DX"),
            filtered=True,
            sees_patients=True,
        ),
        Caller("system", "system/*.rs"),
        Caller("none", None),
    )
}
# Validity of the admin-only probes: with this token (the system caller's own for the others), another
# patient's Thing must answer differently from an absent one (else the probe reaches no data, proves nothing).
OPERATOR = "admin system/*.rs"


def hidden(caller: Caller, thing: Thing, aspect: Aspect, world: World) -> bool:
    """Must `caller` be unable to tell `thing` (as far as `aspect` names it) from an absent one?"""
    if caller.scope is None:
        return True
    if caller.name == "system":
        return False
    if aspect is Aspect.ADMIN:
        return True  # no caller of the matrix but the operator is an administrator
    if caller.filtered:
        if aspect is Aspect.STUDY:
            return thing.modality != VISIBLE_MODALITY
        if aspect is Aspect.STUDIES:
            return not world.has_visible_study(thing.patient)
        return not caller.sees_patients
    own = world.things[caller.own]
    return thing.patient != own.patient


def absent_counterpart(caller: Caller, thing: Thing, aspect: Aspect, world: World) -> Thing:
    """The absent Thing to compare `thing` with: for a study of a patient the caller may see, an absent
    study of that same patient (else an answer about the patient would differ, rightly)."""
    absent = world.absent[thing.label]
    if aspect is Aspect.STUDY and not hidden(caller, thing, Aspect.PATIENT, world):
        return replace(absent, **{name: getattr(thing, name) for name in PATIENT_FIELDS})
    return absent


@dataclass
class World:
    """The data as set up for this run: Things by label, every fingerprint by owner, endpoints."""

    things: dict[str, Thing]
    # value -> (patient id, modality or "" for patient-level data): strings that identify someone's data.
    fingerprints: dict[str, tuple[str, str]] = field(default_factory=dict)
    endpoints: tuple[str, ...] = ()
    study_modalities: dict[str, str] = field(default_factory=dict)  # study id -> modality
    study_patients: dict[str, str] = field(default_factory=dict)  # study id -> patient id
    absent: dict[str, Thing] = field(default_factory=dict)

    def has_visible_study(self, patient: str) -> bool:
        return any(
            self.study_patients[s] == patient and m == VISIBLE_MODALITY
            for s, m in self.study_modalities.items()
        )

    def hidden_fingerprints(self, caller: Caller) -> dict[str, str]:
        """value -> what it is, for every string `caller` must never receive."""
        if caller.name == "system":
            return {}
        own_patient = self.things[caller.own].patient
        out = {}
        for value, (patient, modality) in self.fingerprints.items():
            if caller.scope is None:
                secret = True
            elif caller.filtered:
                # Clinicians may see every patient's name; only studies outside the filter are secret.
                secret = modality not in ("", VISIBLE_MODALITY)
            else:
                secret = patient != own_patient
            if secret:
                out[value] = f"{patient}{'/' + modality if modality else ''}"
        return out


# --- building the world from the running server ---------------------------------------------------------


def _ok(response: httpx.Response, *codes: int) -> Any:
    assert response.status_code in (codes or (200,)), f"{response.request.url}: {response.text[:500]}"
    return response.json() if response.content else None


def _modality(study: dict[str, Any]) -> str:
    return str(study["modality"][0]["code"])


def _study_uid(study: dict[str, Any]) -> str:
    for identifier in study.get("identifier", []):
        if identifier.get("system") == DICOM_UID:
            return str(identifier["value"]).removeprefix("urn:oid:")
    raise AssertionError(f"ImagingStudy/{study['id']} has no DICOM UID (were the demo images loaded?)")


def _spare_study(http: httpx.Client, patient: str, modality: str, rng: random.Random) -> tuple[str, str]:
    spare_id = f"leak-spare-{rng.randrange(10**9, 10**10)}"
    uid = f"2.25.{rng.randrange(10**30, 10**31)}"
    body = {
        "resourceType": "ImagingStudy",
        "id": spare_id,
        "status": "available",
        "identifier": [{"system": DICOM_UID, "value": f"urn:oid:{uid}"}],
        "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": modality}],
        "subject": {"reference": f"Patient/{patient}"},
        "description": "spare study of the leak matrix",
    }
    _ok(http.put(f"/fhir/ImagingStudy/{spare_id}", json=body), 200, 201)
    return spare_id, uid


def _link(http: httpx.Client, patient: str) -> str:
    params = {"resourceType": "Parameters", "parameter": [{"name": "longTerm", "valueBoolean": True}]}
    created = _ok(http.post(f"/fhir/Patient/{patient}/$shl", json=params), 201)
    return next(str(p["valueString"]) for p in created["parameter"] if p["name"] == "id")


def _study_link(http: httpx.Client, study: str) -> str:
    """A link to one study: its patient's link listing then names the study (visible or not)."""
    created = _ok(http.post(f"/fhir/ImagingStudy/{study}/$shl", json={"resourceType": "Parameters"}), 201)
    return next(str(p["valueString"]) for p in created["parameter"] if p["name"] == "id")


def subscription_body(patient: str, subscription_id: str | None = None) -> dict[str, Any]:
    """A websocket Subscription to a patient's imaging (no endpoint: nothing is ever sent anywhere)."""
    body: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "leak matrix",
        "criteria": "https://fhir.imaging-federation.example/SubscriptionTopic/imaging-study-available",
        "_criteria": {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                    "backport-filter-criteria",
                    "valueString": f"ImagingStudy?patient=Patient/{patient}",
                }
            ]
        },
        "channel": {"type": "websocket", "payload": "application/fhir+json"},
    }
    if subscription_id is not None:
        body["id"] = subscription_id
    return body


def _subscription(http: httpx.Client, patient: str) -> str:
    return str(_ok(http.post("/fhir/Subscription", json=subscription_body(patient)), 201)["id"])


def _audit_event(http: httpx.Client, patient: str) -> str:
    bundle = _ok(http.get("/fhir/AuditEvent", params={"patient": patient, "_count": "1"}))
    assert bundle["entry"], f"no AuditEvent about Patient/{patient}"
    return str(bundle["entry"][0]["resource"]["id"])


def register_users(admin: httpx.Client) -> None:
    """The patients' own accounts (their browser sessions are callers too) and the app they sign in to."""
    for username, patient in (("ingrid", PATIENT_A), ("lars", PATIENT_B)):
        user = {
            "username": username,
            "password": PASSWORD,
            "role": "patient",
            "fhirUser": f"Patient/{patient}",
        }
        _ok(admin.post("/auth/admin/users", json=user), 201)
    client = {
        "client_id": PUBLIC_APP,
        "client_name": "Leak Matrix Viewer",
        "kind": "public",
        "scope": "launch/patient openid fhirUser patient/*.rs",
        "redirect_uris": [REDIRECT],
    }
    _ok(admin.post("/auth/admin/clients", json=client), 201)


def build_world(operator: httpx.Client, writer: httpx.Client, seed: int) -> World:
    """`operator`: an admin system token (reads everything, AuditEvents too); `writer`: system/*.cruds."""
    rng = random.Random(seed)
    studies = {
        e["resource"]["id"]: e["resource"]
        for e in _ok(operator.get("/fhir/ImagingStudy", params={"_count": "100"}))["entry"]
    }
    demo_patients = {f"legacy-{str(p['id']).lower()}": p for p in dataset.PATIENTS}
    world = World(things={})
    for patient_id, row in demo_patients.items():
        for value in (patient_id, row["id"], row["national_id"], row["phone"]):
            if value:
                world.fingerprints[str(value)] = (patient_id, "")
        if patient_id != PATIENT_A:  # "John" and "Doe" are too common to be told from other text
            world.fingerprints[str(row["first_name"])] = (patient_id, "")
            world.fingerprints[str(row["last_name"])] = (patient_id, "")
    for study_id, study in studies.items():
        patient = study["subject"]["reference"].removeprefix("Patient/")
        modality = _modality(study)
        world.study_modalities[study_id] = modality
        world.study_patients[study_id] = patient
        values = [study_id, _study_uid(study)]
        values += [i["value"] for i in study.get("identifier", []) if i.get("system") != DICOM_UID]
        for series in study.get("series", []):
            values.append(series["uid"])
            values += [instance["uid"] for instance in series.get("instance", [])]
        for value in values:
            world.fingerprints[str(value)] = (patient, modality)
    world.endpoints = tuple(
        sorted({s["endpoint"][0]["reference"].removeprefix("Endpoint/") for s in studies.values()})
    )
    links = {p: (_link(writer, p), _link(writer, p)) for p in (PATIENT_A, PATIENT_B)}
    study_links = {
        study_id: _study_link(writer, study_id) for study_id in (STUDY_A_CT, STUDY_A_DX, STUDY_B_US)
    }
    for label, patient, study_id in (
        ("A", PATIENT_A, STUDY_A_CT),
        ("A-DX", PATIENT_A, STUDY_A_DX),
        ("B", PATIENT_B, STUDY_B_US),
    ):
        study = studies[study_id]
        row = demo_patients[patient]
        spare_id, spare_uid = _spare_study(writer, patient, _modality(study), rng)
        deleted_id, deleted_uid = _spare_study(writer, patient, _modality(study), rng)
        _ok(writer.delete(f"/fhir/ImagingStudy/{deleted_id}"), 200, 204)
        world.fingerprints[deleted_id] = world.fingerprints[deleted_uid] = (patient, _modality(study))
        world.study_modalities[spare_id] = _modality(study)
        world.study_patients[spare_id] = patient
        world.fingerprints[spare_id] = world.fingerprints[spare_uid] = (patient, _modality(study))
        spare_user = f"spare-{label.lower().replace('-', '')}-{rng.randrange(1000, 9999)}"
        _ok(
            operator.post(
                "/auth/admin/users",
                json={
                    "username": spare_user,
                    "password": PASSWORD,
                    "role": "patient",
                    "fhirUser": f"Patient/{patient}",
                },
            ),
            201,
        )
        series = study["series"][0]
        world.things[label] = Thing(
            label=label,
            patient=patient,
            dicom_patient_id=str(row["id"]),
            family=str(row["last_name"]),
            given=str(row["first_name"]),
            national_id=str(row["national_id"]),
            phone=str(row["phone"]),
            birth_date=str(row["date_of_birth"]),
            study=study_id,
            study_uid=_study_uid(study),
            series_uid=series["uid"],
            instance_uid=series["instance"][0]["uid"],
            accession=study_id.removeprefix("legacy-stu-"),
            spare_study=spare_id,
            spare_uid=spare_uid,
            deleted_study=deleted_id,
            spare_user=spare_user,
            new_user=f"new-{label.lower().replace('-', '')}-{rng.randrange(1000, 9999)}",
            link=links[patient][0],
            revocable_link=links[patient][1],
            study_link=study_links[study_id],
            audit_event=_audit_event(operator, patient),
            subscription=_subscription(writer, patient),
            spare_subscription=_subscription(writer, patient),
            modality=_modality(study),
            endpoint=study["endpoint"][0]["reference"].removeprefix("Endpoint/"),
        )
    world.absent = {label: absent_like(thing, rng) for label, thing in world.things.items()}
    return world
