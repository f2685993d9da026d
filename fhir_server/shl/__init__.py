"""SMART Health Links (HL7 "SMART Health Cards and Links" IG STU1, links-specification.html).

A clinician or patient creates a link (`POST [base]/Patient/{id}/$shl`); the receiver decodes it, POSTs the
manifest (`/shl/m/{manifest id}`) and decrypts the files it gets with the key from the link.
"""

# The face other features use (the old app's QR routes); everything else in this package is its own.
from fhir_server.shl.components import shl_of
from fhir_server.shl.creator import creator_of
from fhir_server.shl.options import LinkOptions
from fhir_server.shl.routes import create_link, qr_response, store_of
from fhir_server.shl.targets import readable_patient, readable_study

__all__ = [
    "LinkOptions",
    "create_link",
    "creator_of",
    "qr_response",
    "readable_patient",
    "readable_study",
    "shl_of",
    "store_of",
]
