"""Content negotiation (https://hl7.org/fhir/R4/http.html#mime-type): JSON in and out, nothing else.

XML and other formats are refused with an OperationOutcome that says this server speaks JSON only:
406 for what the client wants back (Accept, `_format`), 415 for what it sends (Content-Type).
"""

from __future__ import annotations

from collections.abc import Mapping

from fhir_server.errors import FhirError, Problem

FHIR_JSON = "application/fhir+json"
FHIR_JSON_UTF8 = f"{FHIR_JSON}; charset=utf-8"  # what every JSON answer of the server says it is
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH)

_JSON_TYPES = {FHIR_JSON, "application/json", "application/json+fhir"}
_JSON_FORMATS = {"json", *_JSON_TYPES}
_ANY = {"*/*", "application/*"}


def _media_types(header: str) -> list[str]:
    types = []
    for part in header.split(","):
        media, _, params = part.strip().partition(";")
        if "q=0" in params.replace(" ", "") and "q=0." not in params.replace(" ", ""):
            continue  # explicitly refused by the client
        if media:
            types.append(media.strip().lower())
    return types


def check_response_format(query: Mapping[str, str], accept: str | None) -> None:
    requested = query.get("_format")
    if requested is not None:
        if requested.strip().lower() not in _JSON_FORMATS:
            raise FhirError(
                Problem.NOT_ACCEPTABLE,
                f"_format '{requested}' is not supported: this server returns JSON only "
                "(use _format=json or application/fhir+json)",
                ["_format"],
            )
        return
    if not accept:
        return
    media = _media_types(accept)
    if not media or any(m in _JSON_TYPES or m in _ANY for m in media):
        return
    raise FhirError(
        Problem.NOT_ACCEPTABLE,
        f"Cannot produce '{accept}': this server returns JSON only (Accept: application/fhir+json)",
    )


def patch_body_type(content_type: str | None) -> str:
    """The patch format of a PATCH body: JSON_PATCH or MERGE_PATCH (415 for anything else, naming both;
    a FHIR JSON type would be FHIRPath Patch, a Parameters resource, which this server does not apply)."""
    if not content_type:
        return JSON_PATCH  # as before merge patch was accepted: an undeclared body is read as JSON Patch
    media = content_type.split(";", 1)[0].strip().lower()
    if media in PATCH_TYPES:
        return media
    hint = "FHIRPath Patch (a Parameters body) is not supported; " if media in _JSON_TYPES else ""
    raise FhirError(
        Problem.UNSUPPORTED_MEDIA_TYPE,
        f"{hint}PATCH bodies must be JSON Patch ({JSON_PATCH}, RFC 6902) or JSON Merge Patch "
        f"({MERGE_PATCH}, RFC 7396), not '{media}'",
    )


def check_request_body_type(content_type: str | None) -> None:
    if not content_type:
        return  # a body without a declared type is read as FHIR JSON
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in _JSON_TYPES:
        raise FhirError(
            Problem.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type '{media}' is not supported: send FHIR JSON ({FHIR_JSON})",
        )
