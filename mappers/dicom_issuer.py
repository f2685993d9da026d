"""Issuers of identifiers, from the DICOM HL7v2 Hierarchic Designator macro (PS3.3 Table 10-17).

Used by Issuer of Accession Number Sequence (0008,0051) and Issuer of Patient ID Qualifiers (0010,0024).
"""

from mappers.dicom_json import DicomJson, text
from mappers.dicom_tags import Tag

# Universal Entity ID types that have a standard URI form; the others (DNS, EUI64, X400, X500) do not.
_URI_PREFIX = {"ISO": "urn:oid:", "UUID": "urn:uuid:", "URI": ""}


def issuer_system(designator: DicomJson) -> str | None:
    """An Identifier.system URI for the issuer, when the designator carries a universal ID that has one."""
    universal_id = text(designator, Tag.UniversalEntityID)
    id_type = (text(designator, Tag.UniversalEntityIDType) or "").upper()
    if universal_id is None or id_type not in _URI_PREFIX:
        return None
    prefix = _URI_PREFIX[id_type]
    return universal_id if universal_id.startswith(prefix) else prefix + universal_id


def issuer_name(designator: DicomJson) -> str | None:
    """The issuer's local name (e.g. the RIS namespace), fit for an Identifier.assigner display."""
    return text(designator, Tag.LocalNamespaceEntityID)
