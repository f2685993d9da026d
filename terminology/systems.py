"""Canonical URIs of every code system, value set, concept map and identifier system the server uses.

This is the single place the rest of the server imports these strings from, so that a typo cannot
silently create a second "system" for the same identifiers.
"""

from typing import Final

# The project owns this base; `.example` is a reserved TLD, so it can never collide with a real
# organisation's namespace. A deployment that has a registered namespace overrides the identifier
# systems through its settings (see DEFAULT_NATIONAL_ID_SYSTEM).
FEDERATION_BASE: Final = "https://fhir.imaging-federation.example"

# --- Identifier systems (Identifier.system values), each described by a shipped NamingSystem ---

# National patient identifier. Deliberately a project URI instead of a country OID: the federation
# is not tied to one jurisdiction. Settings read this default and may replace it per deployment.
DEFAULT_NATIONAL_ID_SYSTEM: Final = f"{FEDERATION_BASE}/sid/national-id"
NATIONAL_ID_SYSTEM: Final = DEFAULT_NATIONAL_ID_SYSTEM

# Identifiers minted by the legacy imaging application that the federation replaces.
LEGACY_HOSPITAL_ID_SYSTEM: Final = f"{FEDERATION_BASE}/sid/legacy-hospital-id"  # e.g. HOS-001
LEGACY_PATIENT_ID_SYSTEM: Final = f"{FEDERATION_BASE}/sid/legacy-patient-id"  # e.g. PAT-901234
LEGACY_STUDY_ID_SYSTEM: Final = f"{FEDERATION_BASE}/sid/legacy-study-id"  # e.g. STU-20240115103000

# HL7's system for DICOM UIDs (Study/Series/SOP Instance UIDs); the value is the bare UID, and
# ImagingStudy.identifier additionally carries the `urn:oid:` form per the R4 ImagingStudy notes.
DICOM_UID_SYSTEM: Final = "urn:dicom:uid"

# --- Code systems ---

DCM_SYSTEM: Final = "http://dicom.nema.org/resources/ontology/DCM"
V2_0203_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
ADMINISTRATIVE_GENDER_SYSTEM: Final = "http://hl7.org/fhir/administrative-gender"
IMAGINGSTUDY_STATUS_SYSTEM: Final = "http://hl7.org/fhir/imagingstudy-status"
ENDPOINT_STATUS_SYSTEM: Final = "http://hl7.org/fhir/endpoint-status"
ENDPOINT_CONNECTION_TYPE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
LEGACY_MODALITY_SYSTEM: Final = f"{FEDERATION_BASE}/CodeSystem/legacy-modality"

# --- Value sets ---

DICOM_CID29_VALUESET: Final = "http://hl7.org/fhir/ValueSet/dicom-cid29"
ADMINISTRATIVE_GENDER_VALUESET: Final = "http://hl7.org/fhir/ValueSet/administrative-gender"
IDENTIFIER_TYPE_VALUESET: Final = "http://hl7.org/fhir/ValueSet/identifier-type"
ENDPOINT_CONNECTION_TYPE_VALUESET: Final = "http://hl7.org/fhir/ValueSet/endpoint-connection-type"
IMAGINGSTUDY_STATUS_VALUESET: Final = "http://hl7.org/fhir/ValueSet/imagingstudy-status"
ENDPOINT_STATUS_VALUESET: Final = "http://hl7.org/fhir/ValueSet/endpoint-status"
LEGACY_MODALITY_VALUESET: Final = f"{FEDERATION_BASE}/ValueSet/legacy-modality"

# --- Concept maps ---

LEGACY_MODALITY_TO_DCM_CONCEPT_MAP: Final = f"{FEDERATION_BASE}/ConceptMap/legacy-modality-to-dcm"
