"""Cleaning the legacy application's free-text column values: text, ids, dates, genders and markup.

Each function answers None for a value it cannot read; the caller turns that into a LegacyIssue, so that
no value is dropped silently.
"""

import re
import string
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone, tzinfo
from html.parser import HTMLParser
from typing import Any, Final

# Every hospital of the legacy federation is in Tanzania (addresses, +255 numbers): East Africa Time, UTC+3
# all year round, so a fixed offset is exact and needs no time zone database.
EAST_AFRICA_TIME: Final = timezone(timedelta(hours=3), "EAT")

LEGACY_ID_PREFIX: Final = "legacy-"
# 64 is FHIR's id limit; the longest id derived from a legacy id is a hospital's Endpoint, which appends
# "-dicomweb" to "legacy-<id>".
LEGACY_ID_MAX_LENGTH: Final = 64 - len(LEGACY_ID_PREFIX) - len("-dicomweb")
_LEGACY_ID_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-.")

# Day first: every slashed date in the legacy database that is unambiguous (25/06/2021, 29/10/1997, ...) is
# day/month/year, the Tanzanian convention. A month-first value with a day above 12 fails to parse and is
# reported rather than guessed.
_DATE_FORMATS: Final = ("%Y-%m-%d", "%d/%m/%Y")
_TIME_FORMATS: Final = ("%H:%M:%S.%f", "%H:%M:%S", "%H:%M")
_DATETIME_FORMATS: Final = tuple(
    f"{day}{separator}{time}{zone}"
    for day in _DATE_FORMATS
    for separator in (" ", "T")
    for time in _TIME_FORMATS
    for zone in ("", "%z")
)

_GENDER_SPELLINGS: Final = {
    "m": "male",
    "male": "male",
    "f": "female",
    "female": "female",
    "o": "other",
    "other": "other",
    "u": "unknown",
    "unknown": "unknown",
}


def clean_text(row: Mapping[str, Any], column: str) -> str | None:
    """The column's value without surrounding whitespace; None for NULL, a missing column or blank text.

    The legacy application stored "no value" both as NULL and as '', so both mean absent here.
    """
    value = row.get(column)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def legacy_fhir_id(legacy_id: str) -> str | None:
    """``HOS-001`` -> ``legacy-hos-001``: deterministic, so re-running the import updates instead of
    duplicating. None when the legacy id has characters a FHIR id cannot hold or is too long."""
    if len(legacy_id) > LEGACY_ID_MAX_LENGTH or not set(legacy_id) <= _LEGACY_ID_CHARACTERS:
        return None
    return LEGACY_ID_PREFIX + legacy_id.lower()


def canonical_national_id(national_id: str) -> str:
    """One spelling per national ID, so '1990 1234' and '19901234' are found (and deduplicated) as one."""
    return "".join(national_id.split()).upper()


def fhir_gender(legacy_gender: str) -> str | None:
    """AdministrativeGender code for a legacy spelling (M, male, Female, O, U, ...); None if unrecognised."""
    return _GENDER_SPELLINGS.get(legacy_gender.strip().casefold())


def fhir_date(legacy_date: str) -> str | None:
    """A FHIR date from any legacy date format; a timestamp gives its calendar day."""
    parsed = parse_legacy_date(legacy_date)
    if isinstance(parsed, datetime):
        return parsed.date().isoformat()
    return parsed.isoformat() if parsed else None


def fhir_datetime(legacy_date: str, local_zone: tzinfo | None) -> str | None:
    """A FHIR dateTime from any legacy date format, keeping the value's own precision.

    FHIR requires an offset on a dateTime with a time. The legacy application stored wall-clock times of the
    hospital without one, so ``local_zone`` supplies it; with no zone the time is dropped and the day kept,
    because a day is true while a time at an unknown offset is not.
    """
    parsed = parse_legacy_date(legacy_date)
    if parsed is None:
        return None
    if not isinstance(parsed, datetime):
        return parsed.isoformat()
    if parsed.tzinfo is None:
        if local_zone is None:
            return parsed.date().isoformat()
        parsed = parsed.replace(tzinfo=local_zone)
    return parsed.isoformat(timespec="microseconds" if parsed.microsecond else "seconds")


def parse_legacy_date(legacy_date: str) -> date | datetime | None:
    """A date (date-only formats) or a datetime (naive unless the text has an offset); None if unreadable.

    An explicit list of formats rather than ``fromisoformat``: that also accepts ISO week dates and other
    forms the legacy application never wrote, which would hide a corrupt value instead of reporting it.
    """
    text = legacy_date.strip()
    if (fast := _parse_iso(text)) is not None:
        return fast
    for date_format in _DATE_FORMATS:
        parsed = _strptime(text, date_format)
        if parsed is not None:
            return parsed.date()
    for datetime_format in _DATETIME_FORMATS:
        parsed = _strptime(text, datetime_format)
        if parsed is not None:
            return parsed
    return None


def _parse_iso(text: str) -> date | datetime | None:
    """The two shapes the legacy application wrote most (``2024-01-15``, ``2024-01-15 10:30:00`` or with
    ``T``) without strptime, which costs a failed attempt per format tried and dominated the import's
    mapping time. The same value ``parse_legacy_date`` gives; None leaves the text to the format list."""
    match = _ISO_DATE_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    try:
        if match[4] is None:  # the time's three groups match together or not at all
            return date(year, month, day)
        return datetime(year, month, day, int(match[4]), int(match[5]), int(match[6]))
    except ValueError:
        return None  # e.g. 2024-02-30 or second 60: the format list decides, as before


_ISO_DATE_TIME: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2}))?", re.ASCII)


def _strptime(text: str, datetime_format: str) -> datetime | None:
    try:
        return datetime.strptime(text, datetime_format)
    except ValueError:
        return None


def strip_markup(text: str) -> str:
    """Visible text of an HTML fragment: tags removed, entities decoded, script and style content dropped
    entirely, whitespace collapsed. Uses the standard library's HTML tokenizer, which copes with unclosed
    and malformed tags that a regular expression would let through."""
    extractor = _VisibleText()
    extractor.feed(text)
    extractor.close()
    return " ".join("".join(extractor.parts).split())


class _VisibleText(HTMLParser):
    # Content a browser never shows as text; a <script> left in place would run wherever the description is
    # rendered without escaping.
    _INVISIBLE = frozenset({"script", "style", "template", "noscript"})
    # Formatting inside a word ("<b>X</b>-ray") must not split it; every other tag separates words
    # ("Chest<br>X-ray").
    _INLINE = frozenset(
        {"a", "abbr", "b", "code", "em", "font", "i", "mark", "small", "span", "strong", "sub", "sup", "u"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._invisible_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._INVISIBLE:
            self._invisible_depth += 1
        self._separate_words(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._INVISIBLE and self._invisible_depth:
            self._invisible_depth -= 1
        self._separate_words(tag)

    def handle_data(self, data: str) -> None:
        if not self._invisible_depth:
            self.parts.append(data)

    def _separate_words(self, tag: str) -> None:
        if tag not in self._INLINE:
            self.parts.append(" ")
