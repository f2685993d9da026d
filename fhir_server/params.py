"""Parsing of common request parameters, with 400 OperationOutcomes that name the parameter."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fhir_server.errors import FhirError, Problem

_INSTANT = re.compile(
    r"^(\d{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d{1,9})?)?"
    r"(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))?)?)?)?$"
)


# FHIR `integer` is a signed 32-bit number (https://hl7.org/fhir/R4/datatypes.html#integer): larger
# counts and offsets are not values the client can mean, and beyond 64 bits neither the database nor orjson
# could take them.
FHIR_INTEGER_MAX = 2**31 - 1


def parse_non_negative(raw: str, name: str, maximum: int = FHIR_INTEGER_MAX) -> int:
    """A non-negative integer parameter such as `_count` or `offset`; anything else is a 400 naming it."""
    # str.isdigit() alone admits '²' and other Unicode digits that int() rejects; the length test keeps
    # int() clear of Python's limit on converting very long digit strings.
    if not (raw.isascii() and raw.isdigit()):
        raise FhirError(Problem.INVALID, f"{name} must be a non-negative integer, got {raw[:20]!r}", [name])
    if len(raw.lstrip("0")) > len(str(maximum)) or int(raw) > maximum:
        raise FhirError(Problem.INVALID, f"{name} must be at most {maximum}, got {raw[:20]!r}", [name])
    return int(raw)


def parse_count(raw: str | None, default: int, maximum: int) -> int:
    """`_count`: the default when absent, and at most `maximum` (a server may return fewer, search.html)."""
    if raw is None or raw == "":
        return default
    return min(parse_non_negative(raw, "_count"), maximum)


def parse_instant(raw: str, name: str) -> datetime:
    """A FHIR dateTime/instant as the earliest moment it denotes (UTC assumed when no zone is given)."""
    if not _INSTANT.match(raw):
        raise FhirError(
            Problem.INVALID, f"{name} must be a FHIR dateTime such as 2024-01-31T10:00:00Z", [name]
        )
    text = raw.replace("Z", "+00:00")
    if len(text) == 4:
        text += "-01-01"
    elif len(text) == 7:
        text += "-01"
    if "T" in text and text.count(":") == 1 and ("+" not in text[10:] and "-" not in text[10:]):
        text += ":00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FhirError(Problem.INVALID, f"{name}: {raw!r} is not a valid date/time", [name]) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def instant(value: datetime | None) -> str | None:
    """An ISO 8601 UTC instant (the database returns naive UTC datetimes)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
