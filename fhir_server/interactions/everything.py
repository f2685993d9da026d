"""Patient $everything: GET [base]/Patient/[id]/$everything
(https://hl7.org/fhir/R4/patient-operation-everything.html).

The patient, the ImagingStudies about them, the Endpoints those studies (and their series) point to, the
Organizations managing those Endpoints, and the patient's managingOrganization and general-practitioner
organizations. Ordered by type (Patient, ImagingStudy, Endpoint, Organization) then id, paged with `_count`
and a keyset `_page` token; `_since` keeps resources updated at or after the instant, `_type` restricts the
resource types.
For a Patient merged into another (Patient/$merge) it includes the survivor's compartment as well.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import UTC

import orjson

from fhir_server.core.context import RequestContext
from fhir_server.core.result import FhirResult
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.common import existing_version
from fhir_server.interactions.patient_links import replaced_by
from fhir_server.params import parse_count, parse_instant
from fhir_server.search import keys as k
from fhir_server.search.access import Visible, everything_visible
from fhir_server.search.conditions import Candidate
from fhir_server.search.engine import SearchEngine, relative_targets
from fhir_server.search.searchset import entry, searchset
from fhir_server.storage.repository import Repository

ORDER = ("Patient", "ImagingStudy", "Endpoint", "Organization")
_MAX_MERGE_HOPS = 10  # merges chain (A into B, B into C); a longer chain is a hand-made cycle

Member = tuple[str, Candidate]


def patient_everything(
    engine: SearchEngine,
    repository: Repository,
    ctx: RequestContext,
    patient_id: str,
    query: Mapping[str, str],
    *,
    default_count: int,
    max_count: int,
    visible: Visible = everything_visible,
) -> FhirResult:
    existing_version(repository, "Patient", patient_id)  # 404/410 (a secured store: also when not visible)
    count = parse_count(query.get("_count"), default_count, max_count)
    since = parse_instant(query["_since"], "_since") if query.get("_since") else None
    types = _types(query.get("_type"))
    members = [
        (t, c)
        for t, c in _following_merges(engine, patient_id)
        if t in types and (since is None or c.doc is None or c.doc["ts"].astimezone(UTC) >= since)
    ]
    members.sort(key=_position)
    start = 0
    if query.get("_page"):
        after = _decode(query["_page"])
        start = next((i for i, m in enumerate(members) if _position(m) > after), len(members))
    page = members[start : start + count]
    params = [(name, query[name]) for name in ("_since", "_type") if query.get(name)] + [
        ("_count", str(count))
    ]
    links = [
        ("self", params + ([("_page", query["_page"])] if query.get("_page") else [])),
        ("first", params),
    ]
    if page and start + len(page) < len(members):
        links.append(("next", [*params, ("_page", _encode(_position(page[-1])))]))
    entries = []
    for resource_type, candidate in page:
        versions = engine.load(resource_type, [candidate])
        entries += [
            entry(ctx, v.resource, "match")
            for v in versions
            if v.resource is not None and visible(resource_type, v.resource)
        ]
    bundle = searchset(ctx, f"Patient/{patient_id}/$everything", links, entries, len(members))
    return FhirResult(resource=bundle)


def patient_compartment(engine: SearchEngine, patient_id: str) -> list[Member]:
    patients = engine.by_ids("Patient", [patient_id])
    studies = engine.by_keys("ImagingStudy", [k.value_key("patient", f"Patient/{patient_id}")])
    endpoints = engine.by_ids("Endpoint", _targets(studies, "endpoint", "Endpoint"))
    organizations = engine.by_ids(
        "Organization",
        [
            *_targets(endpoints, "organization", "Organization"),
            *_targets(patients, "organization", "Organization"),
            *_targets(patients, "general-practitioner", "Organization"),
        ],
    )
    return [
        *(("Patient", c) for c in patients),
        *(("ImagingStudy", c) for c in studies),
        *(("Endpoint", c) for c in endpoints),
        *(("Organization", c) for c in organizations),
    ]


def _following_merges(engine: SearchEngine, patient_id: str) -> list[Member]:
    """The patient's compartment and, for a Patient merged into another (`link` replaced-by, Patient/$merge),
    the survivor's too: the merge moved the studies there. Only what the caller may see is followed."""
    members: dict[tuple[str, str], Member] = {}
    current: str | None = patient_id
    seen: set[str] = set()
    while current is not None and current not in seen and len(seen) < _MAX_MERGE_HOPS:
        seen.add(current)
        compartment = patient_compartment(engine, current)
        for member in compartment:
            members.setdefault((member[0], member[1].id), member)
        patients = [c for t, c in compartment if t == "Patient" and c.id == current]
        loaded = engine.load("Patient", patients)
        current = replaced_by(loaded[0].resource) if loaded and loaded[0].resource is not None else None
    return list(members.values())


def _targets(candidates: Iterable[Candidate], param: str, target_type: str) -> set[str]:
    return {i for c in candidates for t, i in relative_targets(c, param) if t == target_type}


def _types(raw: str | None) -> set[str]:
    if not raw:
        return set(ORDER)
    types = {t.strip() for t in raw.split(",") if t.strip()}
    unknown = types - set(ORDER)
    if unknown:
        raise FhirError(
            Problem.INVALID,
            f"_type: $everything returns {', '.join(ORDER)}; not {', '.join(sorted(unknown))}",
            ["_type"],
        )
    return types


def _position(member: Member) -> tuple[int, str]:
    return ORDER.index(member[0]), member[1].id


def _encode(position: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(position))).decode().rstrip("=")


def _decode(token: str) -> tuple[int, str]:
    try:
        rank, resource_id = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(rank), str(resource_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise FhirError(Problem.INVALID, "Invalid _page token: use the next link", ["_page"]) from None
