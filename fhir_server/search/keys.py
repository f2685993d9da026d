"""The index key grammar: every searchable value of a resource is one string in `sp.k`.

One multikey index over `sp.k` serves every parameter of a type. Keys are namespaced by parameter, so each
search is an equality, `$in` or range scan on that index (SecantusDB plans one indexed predicate per
query and costs roughly one index entry per key, measured: one index of 80 keys inserts ~2x faster than
40 indexes of 2 keys, and absent parameters cost nothing):

    {name}={value}                      string (folded), uri, reference (`Type/id` or absolute URL),
                                        token `{system}|{code}` (system empty when there is none)
    {name}:code={code}                  token code in any system
    {name}:text={folded text}           token display / CodeableConcept.text / Identifier.type.text
    {name}:type={tsys}|{tcode}|{value}  Identifier by type (`:of-type`)
    {name}:identifier={system}|{value}  Reference.identifier (`:identifier`), plus `:identifier:code=`
    {name}:lo={low}|{high}              date interval ordered by its start
    {name}:hi={high}|{low}              the same interval ordered by its end

Dates are fixed-width UTC text (see `dates.format_instant`), so text order is time order. `sp.x` keeps the
original (unfolded) strings as `{name}={text}` for `:exact`; it is not indexed.

Not every key is indexed: the database pays one B-tree insert per indexed key on every write, which made
the index the ceiling of bulk imports. A key whose matches are a subset of another indexed key's is stored
in `sp.t` instead, where it still decides whether a candidate matches, and searches for it are driven by
that other key (`fhir_server.search.conditions`):

    {name}={system}|{code}              driven by {name}:code={code}
    {name}:type=…|{value}               driven by {name}:code={value}
    keys of a parameter `indexed_as` another (ImagingStudy patient -> subject, phone/email -> telecom,
    address-city… -> address): driven by the same key under the other's name
"""

from __future__ import annotations

from typing import Final

from fhir_server.search.dates import MAX_INSTANT, MIN_INSTANT, Interval, format_instant

KEYS_FIELD: Final = "sp.k"
TEST_KEYS_FIELD: Final = "sp.t"
EXACT_FIELD: Final = "sp.x"
INDEX_NAME: Final = "search_keys"
# Sorts after every other character, so `prefix + HIGHEST` bounds all keys starting with `prefix`.
HIGHEST: Final = "\U0010ffff"
INSTANT_WIDTH: Final = len(format_instant(MIN_INSTANT))
LOWEST_TEXT: Final = format_instant(MIN_INSTANT)
HIGHEST_TEXT: Final = format_instant(MAX_INSTANT)


def param_name(key: str) -> str:
    """The parameter a key belongs to (names hold neither ':' nor '=')."""
    end = len(key)
    for separator in (":", "="):
        found = key.find(separator)
        if 0 <= found < end:
            end = found
    return key[:end]


def renamed(key: str, name: str) -> str:
    """The same key under another parameter's name."""
    return name + key[len(param_name(key)) :]


def value_key(name: str, value: str) -> str:
    return f"{name}={value}"


def token_key(name: str, system: str, code: str) -> str:
    return f"{name}={system}|{code}"


def code_key(name: str, code: str) -> str:
    return f"{name}:code={code}"


def text_key(name: str, folded: str) -> str:
    return f"{name}:text={folded}"


def type_key(name: str, type_system: str, type_code: str, value: str) -> str:
    return f"{name}:type={type_system}|{type_code}|{value}"


def identifier_key(name: str, system: str, value: str) -> str:
    return f"{name}:identifier={system}|{value}"


def identifier_code_key(name: str, value: str) -> str:
    return f"{name}:identifier:code={value}"


def low_prefix(name: str) -> str:
    return f"{name}:lo="


def high_prefix(name: str) -> str:
    return f"{name}:hi="


def date_keys(name: str, interval: Interval) -> list[str]:
    low, high = format_instant(interval.low), format_instant(interval.high)
    return [f"{low_prefix(name)}{low}|{high}", f"{high_prefix(name)}{high}|{low}"]


def split_date_key(key: str, prefix: str) -> tuple[str, str]:
    """(first, second) instants of a `:lo=` or `:hi=` key whose prefix is `prefix`."""
    start = len(prefix)
    return key[start : start + INSTANT_WIDTH], key[start + INSTANT_WIDTH + 1 :]


def presence_prefix(name: str, is_date: bool) -> str:
    """The prefix every resource with a value for the parameter has at least one key under."""
    return low_prefix(name) if is_date else f"{name}="
