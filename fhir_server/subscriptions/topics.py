"""The topics this server publishes (Subscriptions R5 Backport IG for R4, topic-based subscriptions): what
triggers each, which filters a subscription may set on it, and its SubscriptionTopic resource
(http://hl7.org/fhir/uv/subscriptions-backport/, `GET [base]/SubscriptionTopic`).

A topic is evaluated on one committed write (the previous and the new version of a resource, from the write
journal: fhir_server.storage.write_journal); filters are evaluated on the focus resource, reading the Patient
or Endpoint it references where a filter needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_server.interactions.patient_links import replaced_by
from fhir_server.storage.write_journal import JOURNALED_TYPES
from fhir_server.type_aliases import JsonObject

CANONICAL_BASE = "https://fhir.imaging-federation.example/SubscriptionTopic/"

# Reads a resource by type and id (the server's own store: filters are data rules, access is checked
# separately against the subscriber's secured store).
Lookup = Callable[[str, str], JsonObject | None]


@dataclass(frozen=True)
class FilterParameter:
    name: str
    description: str
    # The values of this filter on a focus resource, compared as strings.
    values: Callable[[JsonObject, Lookup], set[str]]


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    resource_type: str
    description: str
    triggered: Callable[[JsonObject | None, JsonObject | None], bool]
    filters: Mapping[str, FilterParameter]

    @property
    def url(self) -> str:
        return CANONICAL_BASE + self.id

    def matches(self, filters: Mapping[str, list[str]], focus: JsonObject, lookup: Lookup) -> bool:
        """Every filter holds (AND); within one filter any of its comma-separated values (OR)."""
        for name, wanted in filters.items():
            found = self.filters[name].values(focus, lookup)
            if not any(_equal(name, w, found) for w in wanted):
                return False
        return True

    def resource(self) -> JsonObject:
        """The topic as an R4B SubscriptionTopic."""
        return {
            "resourceType": "SubscriptionTopic",
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "status": "active",
            "description": self.description,
            "resourceTrigger": [
                {
                    "description": self.description,
                    "resource": f"http://hl7.org/fhir/StructureDefinition/{self.resource_type}",
                    "supportedInteraction": ["create", "update"],
                }
            ],
            "canFilterBy": [
                {
                    "description": f.description,
                    "resource": self.resource_type,
                    "filterParameter": f.name,
                }
                for f in self.filters.values()
            ],
            "notificationShape": [{"resource": self.resource_type}],
        }


def _equal(name: str, wanted: str, found: set[str]) -> bool:
    if wanted in found:
        return True
    # References match with or without their type ("Patient/1" or "1"); tokens with or without a system.
    return any(value.rpartition("/")[2] == wanted or value.rpartition("|")[2] == wanted for value in found)


def _reference_id(reference: Any, resource_type: str) -> str | None:
    text = str((reference or {}).get("reference") or "") if isinstance(reference, dict) else ""
    kind, _, rid = text.rpartition("/")
    return rid if rid and kind.endswith(resource_type) else None


# -- imaging study available -------------------------------------------------------------------------------


def _study_available(previous: JsonObject | None, current: JsonObject | None) -> bool:
    if current is None or current.get("status") in ("cancelled", "entered-in-error"):
        return False
    if previous is None:
        return True  # created (by a client, an import or the sync)
    if current.get("status") == "available" and previous.get("status") != "available":
        return True
    # New series or instances (a sync brought more images of a study already known).
    return _count(current, "numberOfSeries") > _count(previous, "numberOfSeries") or _count(
        current, "numberOfInstances"
    ) > _count(previous, "numberOfInstances")


def _count(study: JsonObject, field: str) -> int:
    value = study.get(field)
    return value if isinstance(value, int) else 0


def _subject(study: JsonObject, _lookup: Lookup) -> set[str]:
    rid = _reference_id(study.get("subject"), "Patient")
    return {f"Patient/{rid}"} if rid else set()


def _subject_identifiers(study: JsonObject, lookup: Lookup) -> set[str]:
    rid = _reference_id(study.get("subject"), "Patient")
    patient = lookup("Patient", rid) if rid else None
    found: set[str] = set()
    for identifier in (patient or {}).get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("value"):
            found.add(f"{identifier.get('system', '')}|{identifier['value']}")
    return found


def _endpoints(study: JsonObject, _lookup: Lookup) -> set[str]:
    found = {f"Endpoint/{rid}" for e in study.get("endpoint") or [] if (rid := _reference_id(e, "Endpoint"))}
    for series in study.get("series") or []:
        for e in series.get("endpoint") or []:
            if rid := _reference_id(e, "Endpoint"):
                found.add(f"Endpoint/{rid}")
    return found


def _organizations(study: JsonObject, lookup: Lookup) -> set[str]:
    found: set[str] = set()
    for endpoint in _endpoints(study, lookup):
        resource = lookup("Endpoint", endpoint.split("/", 1)[1])
        if resource and (rid := _reference_id(resource.get("managingOrganization"), "Organization")):
            found.add(f"Organization/{rid}")
    return found


def _modalities(study: JsonObject, _lookup: Lookup) -> set[str]:
    codings = list(study.get("modality") or [])
    codings += [s["modality"] for s in study.get("series") or [] if isinstance(s.get("modality"), dict)]
    return {f"{c.get('system', '')}|{c['code']}" for c in codings if isinstance(c, dict) and c.get("code")}


IMAGING_STUDY_AVAILABLE = Topic(
    id="imaging-study-available",
    title="Imaging study available",
    resource_type="ImagingStudy",
    description=(
        "An ImagingStudy was created, updated to status available, or given new series or instances by a "
        "sync from the hospital's PACS"
    ),
    triggered=_study_available,
    filters={
        f.name: f
        for f in (
            FilterParameter("patient", "The study's subject (Patient/id)", _subject),
            FilterParameter(
                "identifier",
                "An identifier of the study's Patient (system|value, e.g. the national ID)",
                _subject_identifiers,
            ),
            FilterParameter("endpoint", "The hospital's DICOMweb Endpoint of the study", _endpoints),
            FilterParameter(
                "organization", "The hospital (Organization managing the study's Endpoint)", _organizations
            ),
            FilterParameter("modality", "A modality of the study (code or system|code)", _modalities),
        )
    },
)

# -- patient merged ----------------------------------------------------------------------------------------


def _merged(previous: JsonObject | None, current: JsonObject | None) -> bool:
    return (
        current is not None
        and replaced_by(current) is not None
        and (previous is None or replaced_by(previous) is None)
    )


def _merged_patients(patient: JsonObject, _lookup: Lookup) -> set[str]:
    found = {f"Patient/{patient.get('id')}"}
    if target := replaced_by(patient):
        found.add(f"Patient/{target}")
    return found


def _subject_of_patient(patient: JsonObject, _lookup: Lookup) -> set[str]:
    return {f"Patient/{patient.get('id')}"}


PATIENT_MERGED = Topic(
    id="patient-merged",
    title="Patient merged",
    resource_type="Patient",
    description=(
        "A Patient was merged into another ($merge): the focus is the source, now replaced-by the target"
    ),
    triggered=_merged,
    filters={"patient": FilterParameter("patient", "The source or the target Patient", _merged_patients)},
)

# -- share link accessed -----------------------------------------------------------------------------------


def _never(_previous: JsonObject | None, _current: JsonObject | None) -> bool:
    return False  # not a resource change: the SHL manifest route journals each opening itself


SHARE_LINK_ACCESSED = Topic(
    id="share-link-accessed",
    title="Share link accessed",
    resource_type="Patient",
    description=(
        "A SMART Health Link of a Patient was opened (its manifest was fetched): the focus is the Patient; "
        "the link's access log ($shl-log) says by whom"
    ),
    triggered=_never,
    filters={"patient": FilterParameter("patient", "The Patient the link shares", _subject_of_patient)},
)

TOPICS: dict[str, Topic] = {t.url: t for t in (IMAGING_STUDY_AVAILABLE, PATIENT_MERGED, SHARE_LINK_ACCESSED)}
TOPICS_BY_ID: dict[str, Topic] = {t.id: t for t in TOPICS.values()}

# The journal must carry every write a topic is about.
assert {t.resource_type for t in TOPICS.values()} <= JOURNALED_TYPES


TOPIC_CANONICAL_EXTENSION = (
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
    "capabilitystatement-subscriptiontopic-canonical"
)


def capability_resources() -> list[JsonObject]:
    """The CapabilityStatement's entries for Subscription (with the topics, as the Backport IG lists them)
    and SubscriptionTopic."""
    return [
        {
            "type": "Subscription",
            "supportedProfile": [
                "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"
            ],
            "documentation": (
                "Topic-based subscriptions (Subscriptions R5 Backport IG): rest-hook and websocket channels; "
                "each subscription is visible to its creator and administrators only."
            ),
            "extension": [{"url": TOPIC_CANONICAL_EXTENSION, "valueCanonical": url} for url in TOPICS],
            "interaction": [{"code": c} for c in ("create", "read", "update", "delete", "search-type")],
            "operation": [
                {
                    "name": "status",
                    "definition": "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status",
                },
                {
                    "name": "events",
                    "definition": "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-events",
                },
                {
                    "name": "get-ws-binding-token",
                    "definition": "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-get-ws-binding-token",
                },
            ],
        },
        {
            "type": "SubscriptionTopic",
            "documentation": "The topics this server publishes (read-only).",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
        },
    ]
