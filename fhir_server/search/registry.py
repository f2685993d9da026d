"""The one registry of search parameters (https://hl7.org/fhir/R4/searchparameter-registry.html).

Each entry names the R4 parameter, its type, a FHIRPath-like expression that `fhir_server.search.paths`
evaluates to extract values on write, the reference targets, and its canonical definition. Extraction,
query parsing and the CapabilityStatement's `searchParam` lists are all generated from this table, so
the server cannot advertise a parameter it does not index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from fhir_server.search.keys import renamed

ParamType = Literal["string", "token", "date", "reference", "uri"]
# How values are read from the elements the expression selects (token/string need the element type).
Datatype = Literal[
    "string",
    "HumanName",
    "Address",
    "CodeableConcept",
    "Coding",
    "Identifier",
    "ContactPoint",
    "code",
    "boolean",
    "id",
    "uri",
    "date",
    "Reference",
]
Derivation = Literal["phonetic", "deceased"]

SPEC = "http://hl7.org/fhir/SearchParameter/"
_PERSON_TARGETS = ("Practitioner", "PractitionerRole")


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: ParamType
    expression: str
    description: str
    definition: str
    datatype: Datatype
    targets: tuple[str, ...] = ()
    # Implicit system of a `code` element, so `gender=http://hl7.org/fhir/administrative-gender|male` works.
    code_system: str | None = None
    derive: Derivation | None = None
    # A handful of values shared by most resources: never the first choice to drive a query.
    low_cardinality: bool = False
    # Another parameter of the type whose values include all of this one's (the same expression, narrowed by
    # a `where`, or a part of the same element): this parameter's keys are kept for testing candidates but
    # not indexed, and searches on it are driven by the same keys under that parameter's name. Every index
    # key costs the database a B-tree insert on every write (see `fhir_server.search.keys`).
    indexed_as: str | None = None

    def driving(self, key: str) -> str:
        """The indexed key that drives a search for one of this parameter's keys: the key itself, or the same
        key under the `indexed_as` parameter's name."""
        return key if self.indexed_as is None else renamed(key, self.indexed_as)


def _p(
    name: str,
    type_: ParamType,
    expression: str,
    description: str,
    definition: str,
    datatype: Datatype,
    **kw: object,
) -> SearchParam:
    return SearchParam(name, type_, expression, description, SPEC + definition, datatype, **kw)  # type: ignore[arg-type]


COMMON: tuple[SearchParam, ...] = (
    _p("_id", "token", "Resource.id", "Logical id of this artifact", "Resource-id", "id"),
    # meta.lastUpdated is always written by MongoRepository (format_instant, milliseconds).
    _p(
        "_lastUpdated",
        "date",
        "Resource.meta.lastUpdated",
        "When the resource version last changed",
        "Resource-lastUpdated",
        "date",
    ),
    # Tags, profiles, labels and sources are shared by many resources: never the first choice to drive.
    _p(
        "_tag",
        "token",
        "Resource.meta.tag",
        "Tags applied to this resource",
        "Resource-tag",
        "Coding",
        low_cardinality=True,
    ),
    _p(
        "_profile",
        "uri",
        "Resource.meta.profile",
        "Profiles this resource claims to conform to",
        "Resource-profile",
        "uri",
        low_cardinality=True,
    ),
    _p(
        "_security",
        "token",
        "Resource.meta.security",
        "Security Labels applied to this resource",
        "Resource-security",
        "Coding",
        low_cardinality=True,
    ),
    _p(
        "_source",
        "uri",
        "Resource.meta.source",
        "Identifies where the resource comes from",
        "Resource-source",
        "uri",
        low_cardinality=True,
    ),
)


def _address_params(rt: str, prefix: str) -> tuple[SearchParam, ...]:
    what = "a patient" if rt == "Patient" else "the organization"
    return (
        _p(
            "address",
            "string",
            f"{rt}.address",
            f"A server defined search that may match any of the string fields in the Address of {what}",
            f"{prefix}-address",
            "Address",
        ),
        _p(
            "address-city",
            "string",
            f"{rt}.address.city",
            f"A city specified in an address of {what}",
            f"{prefix}-address-city",
            "string",
            indexed_as="address",
        ),
        _p(
            "address-country",
            "string",
            f"{rt}.address.country",
            f"A country specified in an address of {what}",
            f"{prefix}-address-country",
            "string",
            indexed_as="address",
        ),
        _p(
            "address-postalcode",
            "string",
            f"{rt}.address.postalCode",
            f"A postal code specified in an address of {what}",
            f"{prefix}-address-postalcode",
            "string",
            indexed_as="address",
        ),
        _p(
            "address-state",
            "string",
            f"{rt}.address.state",
            f"A state specified in an address of {what}",
            f"{prefix}-address-state",
            "string",
            indexed_as="address",
        ),
        _p(
            "address-use",
            "token",
            f"{rt}.address.use",
            f"A use code specified in an address of {what}",
            f"{prefix}-address-use",
            "code",
            code_system="http://hl7.org/fhir/address-use",
            low_cardinality=True,
        ),
    )


PATIENT: tuple[SearchParam, ...] = (
    _p(
        "active",
        "token",
        "Patient.active",
        "Whether the patient record is active",
        "Patient-active",
        "boolean",
        low_cardinality=True,
    ),
    *_address_params("Patient", "individual"),
    _p(
        "birthdate",
        "date",
        "Patient.birthDate",
        "The patient's date of birth",
        "individual-birthdate",
        "date",
    ),
    _p(
        "death-date",
        "date",
        "Patient.deceasedDateTime",
        "The date of death has been provided and satisfies this search value",
        "Patient-death-date",
        "date",
    ),
    _p(
        "deceased",
        "token",
        "Patient.deceasedBoolean | Patient.deceasedDateTime",
        "This patient has been marked as deceased, or has a death date entered (true when "
        "Patient.deceased exists and is not false)",
        "Patient-deceased",
        "boolean",
        derive="deceased",
        low_cardinality=True,
    ),
    _p(
        "email",
        "token",
        "Patient.telecom.where(system='email')",
        "A value in an email contact",
        "individual-email",
        "ContactPoint",
        indexed_as="telecom",
    ),
    # family and given have keys of their own although `name` covers them: driven by `name` keys, a
    # prefix search read every patient with a given *or* family name of that prefix and tested each one
    # (measured at 100,000 patients: p50 77 ms, p95 1.6 s for `family=<4 letters>`).
    _p(
        "family",
        "string",
        "Patient.name.family",
        "A portion of the family name of the patient",
        "individual-family",
        "string",
    ),
    _p(
        "gender",
        "token",
        "Patient.gender",
        "Gender of the patient",
        "individual-gender",
        "code",
        code_system="http://hl7.org/fhir/administrative-gender",
        low_cardinality=True,
    ),
    _p(
        "general-practitioner",
        "reference",
        "Patient.generalPractitioner",
        "Patient's nominated general practitioner, not the organization that manages the record",
        "Patient-general-practitioner",
        "Reference",
        targets=("Organization", *_PERSON_TARGETS),
    ),
    _p(
        "given",
        "string",
        "Patient.name.given",
        "A portion of the given name of the patient",
        "individual-given",
        "string",
    ),
    _p(
        "identifier",
        "token",
        "Patient.identifier",
        "A patient identifier",
        "Patient-identifier",
        "Identifier",
    ),
    _p(
        "language",
        "token",
        "Patient.communication.language",
        "Language code (irrespective of use value)",
        "Patient-language",
        "CodeableConcept",
    ),
    _p(
        "link",
        "reference",
        "Patient.link.other",
        "All patients linked to the given patient",
        "Patient-link",
        "Reference",
        targets=("Patient", "RelatedPerson"),
    ),
    _p(
        "name",
        "string",
        "Patient.name",
        "A server defined search that may match any of the string fields in the HumanName, including family, "
        "given, prefix, suffix and text",
        "Patient-name",
        "HumanName",
    ),
    _p(
        "organization",
        "reference",
        "Patient.managingOrganization",
        "The organization that is the custodian of the patient record",
        "Patient-organization",
        "Reference",
        targets=("Organization",),
    ),
    _p(
        "phone",
        "token",
        "Patient.telecom.where(system='phone')",
        "A value in a phone contact",
        "individual-phone",
        "ContactPoint",
        indexed_as="telecom",
    ),
    _p(
        "phonetic",
        "string",
        "Patient.name",
        "A portion of either family or given name using some kind of phonetic matching algorithm (here: "
        "American Soundex of each name word)",
        "individual-phonetic",
        "HumanName",
        derive="phonetic",
    ),
    _p(
        "telecom",
        "token",
        "Patient.telecom",
        "The value in any kind of telecom details of the patient",
        "individual-telecom",
        "ContactPoint",
    ),
)

ORGANIZATION: tuple[SearchParam, ...] = (
    _p(
        "active",
        "token",
        "Organization.active",
        "Is the Organization record active",
        "Organization-active",
        "boolean",
        low_cardinality=True,
    ),
    *_address_params("Organization", "Organization"),
    _p(
        "endpoint",
        "reference",
        "Organization.endpoint",
        "Technical endpoints providing access to services operated for the organization",
        "Organization-endpoint",
        "Reference",
        targets=("Endpoint",),
    ),
    _p(
        "identifier",
        "token",
        "Organization.identifier",
        "Any identifier for the organization (not the accreditation issuer's identifier)",
        "Organization-identifier",
        "Identifier",
    ),
    _p(
        "name",
        "string",
        "Organization.name | Organization.alias",
        "A portion of the organization's name or alias",
        "Organization-name",
        "string",
    ),
    _p(
        "partof",
        "reference",
        "Organization.partOf",
        "An organization of which this organization forms a part",
        "Organization-partof",
        "Reference",
        targets=("Organization",),
    ),
    _p(
        "phonetic",
        "string",
        "Organization.name",
        "A portion of the organization's name using some kind of phonetic matching algorithm (here: American "
        "Soundex of each word)",
        "Organization-phonetic",
        "string",
        derive="phonetic",
    ),
    _p(
        "type",
        "token",
        "Organization.type",
        "A code for the type of organization",
        "Organization-type",
        "CodeableConcept",
        low_cardinality=True,
    ),
)

IMAGING_STUDY: tuple[SearchParam, ...] = (
    _p(
        "basedon",
        "reference",
        "ImagingStudy.basedOn",
        "The order for the image",
        "ImagingStudy-basedon",
        "Reference",
        targets=("Appointment", "AppointmentResponse", "CarePlan", "ServiceRequest", "Task"),
    ),
    _p(
        "bodysite",
        "token",
        "ImagingStudy.series.bodySite",
        "The body site studied",
        "ImagingStudy-bodysite",
        "Coding",
    ),
    _p(
        "dicom-class",
        "token",
        "ImagingStudy.series.instance.sopClass",
        "The type of the instance",
        "ImagingStudy-dicom-class",
        "Coding",
    ),
    _p(
        "encounter",
        "reference",
        "ImagingStudy.encounter",
        "The context of the study",
        "ImagingStudy-encounter",
        "Reference",
        targets=("Encounter",),
    ),
    _p(
        "endpoint",
        "reference",
        "ImagingStudy.endpoint | ImagingStudy.series.endpoint",
        "The endpoint for the study or series",
        "ImagingStudy-endpoint",
        "Reference",
        targets=("Endpoint",),
    ),
    _p(
        "identifier",
        "token",
        "ImagingStudy.identifier",
        "Identifiers for the Study, such as DICOM Study Instance UID and Accession number",
        "clinical-identifier",
        "Identifier",
    ),
    _p(
        "instance",
        "token",
        "ImagingStudy.series.instance.uid",
        "SOP Instance UID for an instance",
        "ImagingStudy-instance",
        "id",
    ),
    _p(
        "interpreter",
        "reference",
        "ImagingStudy.interpreter",
        "Who interpreted the images",
        "ImagingStudy-interpreter",
        "Reference",
        targets=_PERSON_TARGETS,
    ),
    # The study-level modality list is indexed too, so studies imported without series are found.
    _p(
        "modality",
        "token",
        "ImagingStudy.series.modality | ImagingStudy.modality",
        "The modality of the series (and, for studies without series, of the study)",
        "ImagingStudy-modality",
        "Coding",
        low_cardinality=True,
    ),
    _p(
        "patient",
        "reference",
        "ImagingStudy.subject.where(resolve() is Patient)",
        "Who the study is about",
        "clinical-patient",
        "Reference",
        targets=("Patient",),
        indexed_as="subject",
    ),
    _p(
        "performer",
        "reference",
        "ImagingStudy.series.performer.actor",
        "The person who performed the study",
        "ImagingStudy-performer",
        "Reference",
        targets=(
            "CareTeam",
            "Device",
            "Organization",
            "Patient",
            "Practitioner",
            "PractitionerRole",
            "RelatedPerson",
        ),
    ),
    _p(
        "reason",
        "token",
        "ImagingStudy.reasonCode",
        "The reason for the study",
        "ImagingStudy-reason",
        "CodeableConcept",
    ),
    _p(
        "referrer",
        "reference",
        "ImagingStudy.referrer",
        "The referring physician",
        "ImagingStudy-referrer",
        "Reference",
        targets=_PERSON_TARGETS,
    ),
    _p(
        "series",
        "token",
        "ImagingStudy.series.uid",
        "DICOM Series Instance UID for a series",
        "ImagingStudy-series",
        "id",
    ),
    _p(
        "started",
        "date",
        "ImagingStudy.started",
        "When the study was started",
        "ImagingStudy-started",
        "date",
    ),
    _p(
        "status",
        "token",
        "ImagingStudy.status",
        "The status of the study",
        "ImagingStudy-status",
        "code",
        code_system="http://hl7.org/fhir/imagingstudy-status",
        low_cardinality=True,
    ),
    _p(
        "subject",
        "reference",
        "ImagingStudy.subject",
        "Who the study is about",
        "ImagingStudy-subject",
        "Reference",
        targets=("Device", "Group", "Patient"),
    ),
)

ENDPOINT: tuple[SearchParam, ...] = (
    _p(
        "connection-type",
        "token",
        "Endpoint.connectionType",
        "Protocol/Profile/Standard to be used with this endpoint connection",
        "Endpoint-connection-type",
        "Coding",
        low_cardinality=True,
    ),
    _p(
        "identifier",
        "token",
        "Endpoint.identifier",
        "Identifies this endpoint across multiple systems",
        "Endpoint-identifier",
        "Identifier",
    ),
    _p(
        "name",
        "string",
        "Endpoint.name",
        "A name that this endpoint can be identified by",
        "Endpoint-name",
        "string",
    ),
    _p(
        "organization",
        "reference",
        "Endpoint.managingOrganization",
        "The organization that is managing the endpoint",
        "Endpoint-organization",
        "Reference",
        targets=("Organization",),
    ),
    _p(
        "payload-type",
        "token",
        "Endpoint.payloadType",
        "The type of content that may be used at this endpoint (e.g. XDS Discharge summaries)",
        "Endpoint-payload-type",
        "CodeableConcept",
        low_cardinality=True,
    ),
    _p(
        "status",
        "token",
        "Endpoint.status",
        "The current status of the Endpoint (usually expected to be active)",
        "Endpoint-status",
        "code",
        code_system="http://hl7.org/fhir/endpoint-status",
        low_cardinality=True,
    ),
)

SEARCH_PARAMETERS: Mapping[str, Mapping[str, SearchParam]] = {
    resource_type: {p.name: p for p in (*COMMON, *specific)}
    for resource_type, specific in (
        ("Patient", PATIENT),
        ("Organization", ORGANIZATION),
        ("ImagingStudy", IMAGING_STUDY),
        ("Endpoint", ENDPOINT),
    )
}


def _check_indexed_as() -> None:
    # A parameter can only borrow the keys of a parameter whose keys have the same form.
    for resource_type, params in SEARCH_PARAMETERS.items():
        for param in params.values():
            if param.indexed_as is None:
                continue
            target = params.get(param.indexed_as)
            if target is None or target.type != param.type or target.indexed_as or target.derive:
                raise ValueError(f"{resource_type}.{param.name}: indexed_as {param.indexed_as!r} is unusable")


_check_indexed_as()


def parameters_of(resource_type: str) -> Mapping[str, SearchParam]:
    return SEARCH_PARAMETERS.get(resource_type, {})


def reference_parameters(resource_type: str) -> list[SearchParam]:
    return [p for p in parameters_of(resource_type).values() if p.type == "reference"]
