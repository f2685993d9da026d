"""Date prefixes as index conditions (https://hl7.org/fhir/R4/search.html#prefix).

With the search value as interval [s_lo, s_hi] and a stored value as [t_lo, t_hi], the R4 table reads:

    eq  [s_lo, s_hi] fully contains [t_lo, t_hi]          t_lo >= s_lo and t_hi <= s_hi
    ne  not eq                                            t_lo < s_lo or t_hi > s_hi
    gt  the range above the search value intersects       t_hi > s_hi
    lt  the range below the search value intersects       t_lo < s_lo
    ge  gt or eq                                          t_hi > s_hi or eq
    le  lt or eq                                          t_lo < s_lo or eq
    sa  no overlap, and the range above contains target   t_lo > s_hi
    eb  no overlap, and the range below contains target   t_hi < s_lo
    ap  the intervals overlap once the search interval is widened on each side by 10% of the distance
        between now and its midpoint (the R4 recommendation; a value a year ago matches +-36 days)

Each condition is an index range on the interval's start (`:lo=` keys) or end (`:hi=` keys) that is a
superset of the answer, plus an exact check of the same stored interval in the application.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fhir_server.search import keys as k
from fhir_server.search.conditions import Condition, KeyRange
from fhir_server.search.dates import Interval, format_instant

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
APPROXIMATION = 0.1

Check = Callable[[str, str], bool]  # (t_lo, t_hi) -> matches


def date_conditions(name: str, prefix: str, value: Interval, now: datetime | None = None) -> list[Condition]:
    if prefix == "ap":
        value = value.widened(_approximation(value, now or datetime.now(UTC)))
        prefix = "overlaps"
    s_lo, s_hi = format_instant(value.low), format_instant(value.high)

    def contained(t_lo: str, t_hi: str) -> bool:
        return t_lo >= s_lo and t_hi <= s_hi

    if prefix == "eq":
        return [_by_start(name, s_lo, s_hi, contained)]
    if prefix == "ne":
        return [
            _by_start(name, k.LOWEST_TEXT, s_lo, lambda t_lo, t_hi: t_lo < s_lo),
            _by_end(name, s_hi, k.HIGHEST_TEXT, lambda t_lo, t_hi: t_hi > s_hi),
        ]
    if prefix == "gt":
        return [_by_end(name, s_hi, k.HIGHEST_TEXT, lambda t_lo, t_hi: t_hi > s_hi)]
    if prefix == "lt":
        return [_by_start(name, k.LOWEST_TEXT, s_lo, lambda t_lo, t_hi: t_lo < s_lo)]
    if prefix == "ge":
        # Both alternatives imply t_hi >= s_lo, which bounds the scan.
        return [_by_end(name, s_lo, k.HIGHEST_TEXT, lambda t_lo, t_hi: t_hi > s_hi or contained(t_lo, t_hi))]
    if prefix == "le":
        return [_by_start(name, k.LOWEST_TEXT, s_hi, lambda t_lo, t_hi: t_lo < s_lo or contained(t_lo, t_hi))]
    if prefix == "sa":
        return [_by_start(name, s_hi, k.HIGHEST_TEXT, lambda t_lo, t_hi: t_lo > s_hi)]
    if prefix == "eb":
        return [_by_end(name, k.LOWEST_TEXT, s_lo, lambda t_lo, t_hi: t_hi < s_lo)]
    # overlaps: t_lo <= s_hi and t_hi >= s_lo
    return [_by_start(name, k.LOWEST_TEXT, s_hi, lambda t_lo, t_hi: t_hi >= s_lo)]


def _approximation(value: Interval, now: datetime) -> timedelta:
    middle = value.low + (value.high - value.low) / 2
    return abs(now - middle) * APPROXIMATION


def _by_start(name: str, first: str, last: str, check: Check) -> KeyRange:
    """Stored intervals whose start lies in [first, last]."""
    prefix = k.low_prefix(name)

    def test(key: str) -> bool:
        t_lo, t_hi = k.split_date_key(key, prefix)
        return check(t_lo, t_hi)

    return KeyRange(prefix + first, prefix + last + "|" + k.HIGHEST, test)


def _by_end(name: str, first: str, last: str, check: Check) -> KeyRange:
    """Stored intervals whose end lies in [first, last]."""
    prefix = k.high_prefix(name)

    def test(key: str) -> bool:
        t_hi, t_lo = k.split_date_key(key, prefix)
        return check(t_lo, t_hi)

    return KeyRange(prefix + first, prefix + last + "|" + k.HIGHEST, test)
