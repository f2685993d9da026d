"""DICOM UIDs (PS3.5 9.1): checking them and writing them as OID URNs."""

import re

from mappers.dicom_json import DicomJson, text
from mappers.dicom_tags import Tag
from mappers.errors import DicomMappingError

# Digits and dots, at most 64 characters. Leading zeros in a component are invalid DICOM, but archives hold
# such UIDs and rejecting them would hide those studies, so they pass.
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_MAX_LENGTH = 64
OID_URN_PREFIX = "urn:oid:"


def is_uid(value: str) -> bool:
    return len(value) <= _MAX_LENGTH and _UID.fullmatch(value) is not None


def checked_uid(value: str) -> str:
    if not is_uid(value):
        raise DicomMappingError(f"not a DICOM UID: {value!r}")
    return value


def required_uid(dataset: DicomJson, tag: Tag) -> str:
    """The UID in ``tag``; a DicomMappingError names the attribute when it is missing or malformed."""
    value = text(dataset, tag)
    if value is None:
        raise DicomMappingError(f"missing {tag.name} ({tag.value})")
    return checked_uid(value)


def oid_urn(uid: str) -> str:
    return OID_URN_PREFIX + uid
