"""FHIR dates as ranges (https://hl7.org/fhir/R4/search.html#date).

Every date, dateTime, instant or Period denotes an interval: `1990` is 1990-01-01T00:00:00.000 to
1990-12-31T23:59:59.999, a Period runs from start to end with open ends at the minimum/maximum instant.
Both the stored values and the search values are such intervals, in UTC with millisecond resolution;
values without a time zone (dates, or dateTimes sent without one) are read as UTC.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MIN_INSTANT = datetime(1, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)

_DATE_TIME = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, order=True)
class Interval:
    low: datetime
    high: datetime

    def widened(self, by: timedelta) -> Interval:
        low = self.low - by if self.low - MIN_INSTANT > by else MIN_INSTANT
        high = self.high + by if MAX_INSTANT - self.high > by else MAX_INSTANT
        return Interval(low, high)


def parse_interval(text: str) -> Interval | None:
    """The interval a FHIR date/dateTime/instant denotes, or None when `text` is not one."""
    match = _DATE_TIME.match(text.strip())
    if match is None:
        return None
    parts = match.groupdict()
    try:
        year = int(parts["year"])
        if parts["month"] is None:
            return _utc(datetime(year, 1, 1), datetime(year, 12, 31, 23, 59, 59, 999000), None)
        month = int(parts["month"])
        if parts["day"] is None:
            last = calendar.monthrange(year, month)[1]
            return _utc(datetime(year, month, 1), datetime(year, month, last, 23, 59, 59, 999000), None)
        day = int(parts["day"])
        if parts["hour"] is None:
            start = datetime(year, month, day)
            return _utc(start, start.replace(hour=23, minute=59, second=59, microsecond=999000), None)
        start = datetime(year, month, day, int(parts["hour"]), int(parts["minute"]))
        if parts["second"] is None:
            end = start + timedelta(minutes=1) - _MS
        else:
            start = start.replace(second=min(int(parts["second"]), 59))
            fraction = parts["fraction"] or ""
            digits = min(len(fraction), 3)
            start = start.replace(microsecond=int((fraction[:3] or "0").ljust(3, "0")) * 1000)
            end = start + timedelta(milliseconds=10 ** (3 - digits)) - _MS
        return _utc(start, end, parts["zone"])
    except ValueError:
        return None  # e.g. month 13 or February 30


def _utc(start: datetime, end: datetime, zone: str | None) -> Interval:
    offset = timedelta(0)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return Interval(_shift(start, offset), _shift(end, offset))


def _shift(moment: datetime, offset: timedelta) -> datetime:
    try:
        return (moment - offset).replace(tzinfo=UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by the zone offset
        return MAX_INSTANT if offset < timedelta(0) else MIN_INSTANT


def period_interval(start: str | None, end: str | None) -> Interval | None:
    low = parse_interval(start) if start else None
    high = parse_interval(end) if end else None
    if (start and low is None) or (end and high is None) or (low is None and high is None):
        return None
    return Interval(low.low if low else MIN_INSTANT, high.high if high else MAX_INSTANT)


def format_instant(moment: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order (years 0001-9999)."""
    moment = moment.astimezone(UTC)
    # Formatted field by field: strftime is several times slower, and this runs for every indexed date.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )
