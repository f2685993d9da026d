"""DICOM DA / TM / DT strings to FHIR date, time and dateTime strings.

FHIR R4 requires a UTC offset on any dateTime that has a time. DICOM times are local to the modality and
the offset lives in a separate attribute (Timezone Offset From UTC, 0008,0201) that many archives omit.
When no offset is known, the time is dropped and only the date is kept: a date-only value is true, a time
with a guessed offset is not, and a time without one is invalid FHIR.
"""

import re
from datetime import date, datetime, timedelta, tzinfo

_DATE = re.compile(r"(\d{4})\.?(\d{2})\.?(\d{2})")  # the dots are the retired ACR-NEMA form, still seen
_TIME = re.compile(r"(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?")
_OFFSET = re.compile(r"([+-])(\d{2})(\d{2})")
_DATETIME = re.compile(
    r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?)?)?)?([+-]\d{4})?"
)


def fhir_date(da: str | None) -> str | None:
    """``20240131`` -> ``2024-01-31``; None for empty or impossible dates."""
    match = _DATE.fullmatch((da or "").strip())
    if not match:
        return None
    year, month, day = (int(part) for part in match.groups())
    return _checked_date(year, month, day)


def fhir_time(tm: str | None) -> str | None:
    """``1430``, ``143015.123`` -> ``14:30:00``, ``14:30:15.123``; missing minutes/seconds become 00."""
    match = _TIME.fullmatch((tm or "").strip())
    if not match:
        return None
    hour, minute, second, fraction = match.groups()
    return _checked_time(hour, minute, second, fraction)


def fhir_utc_offset(offset: str | None) -> str | None:
    """``-0500`` -> ``-05:00``; None when absent or outside what FHIR accepts (-14:00..+14:00)."""
    match = _OFFSET.fullmatch((offset or "").strip())
    if not match:
        return None
    sign, hours, minutes = match.groups()
    if int(minutes) > 59 or int(hours) > 14 or (int(hours) == 14 and int(minutes) != 0):
        return None
    return f"{sign}{hours}:{minutes}"


def fhir_datetime(
    da: str | None,
    tm: str | None,
    *,
    utc_offset: str | None = None,
    local_timezone: tzinfo | None = None,
) -> str | None:
    """A DA + TM pair (e.g. StudyDate + StudyTime) as a FHIR dateTime.

    ``utc_offset`` is the DICOM Timezone Offset From UTC; ``local_timezone`` is the modality's zone, used
    only when that attribute is missing. Without either, the result is the date alone.
    """
    day = fhir_date(da)
    if day is None:
        return None
    time = fhir_time(tm)
    if time is None:
        return day
    offset = fhir_utc_offset(utc_offset) or _zone_offset(day, time, local_timezone)
    return f"{day}T{time}{offset}" if offset else day


def fhir_datetime_from_dt(dt: str | None, *, local_timezone: tzinfo | None = None) -> str | None:
    """A DT value (``YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX]``) as a FHIR dateTime of the same precision."""
    match = _DATETIME.fullmatch((dt or "").strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if month is None:
        return year if int(year) > 0 else None
    if day is None:
        return f"{year}-{month}" if int(year) > 0 and 1 <= int(month) <= 12 else None
    calendar_day = _checked_date(int(year), int(month), int(day))
    if calendar_day is None or hour is None:
        return calendar_day
    time = _checked_time(hour, minute, second, fraction)
    if time is None:
        return None
    zone = fhir_utc_offset(offset) if offset else _zone_offset(calendar_day, time, local_timezone)
    return f"{calendar_day}T{time}{zone}" if zone else calendar_day


def _checked_date(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _checked_time(hour: str, minute: str | None, second: str | None, fraction: str | None) -> str | None:
    minute, second = minute or "00", second or "00"
    # 60 is DICOM's (and FHIR's) leap second.
    if int(hour) > 23 or int(minute) > 59 or int(second) > 60:
        return None
    return f"{hour}:{minute}:{second}" + (f".{fraction}" if fraction else "")


def _zone_offset(day: str, time: str, zone: tzinfo | None) -> str | None:
    """The offset ``zone`` had at that local moment, so daylight saving time is right for each study."""
    if zone is None:
        return None
    hour, minute, second = (int(part) for part in time[:8].split(":"))
    local = datetime.fromisoformat(day).replace(hour=hour, minute=minute, second=min(second, 59), tzinfo=zone)
    offset = local.utcoffset()
    if offset is None:
        return None
    sign = "-" if offset < timedelta(0) else "+"
    total_minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{total_minutes // 60:02d}:{total_minutes % 60:02d}"
