"""String normalization shared by indexing and querying (https://hl7.org/fhir/R4/search.html#string).

A string search is case- and accent-insensitive, so both sides are folded the same way: NFKD, combining
marks dropped, lower-cased, whitespace collapsed. Phonetic search uses Soundex over the folded words.
"""

from __future__ import annotations

import re
import unicodedata

# Index keys are compared bytewise; bounding the stored length keeps keys well under index key limits.
MAX_INDEXED_CHARS = 256

_SPACES = re.compile(r"\s+")
_SOUNDEX_CODES = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Letters NFKD cannot split (ø, æ, ß, đ, ł) still have an obvious base letter.
    stripped = stripped.translate(_UNSPLITTABLE)
    return _SPACES.sub(" ", stripped.casefold()).strip()[:MAX_INDEXED_CHARS]


_UNSPLITTABLE = str.maketrans(
    {
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "đ": "d",
        "Đ": "D",
        "ł": "l",
        "Ł": "L",
        "ß": "ss",
        "þ": "th",
        "Þ": "TH",
        "œ": "oe",
        "Œ": "OE",
    }
)


def soundex(word: str) -> str | None:
    """American Soundex (letter + 3 digits) of an already folded word; None when it has no letters."""
    letters = [ch for ch in word if "a" <= ch <= "z"]
    if not letters:
        return None
    first = letters[0]
    digits: list[str] = []
    previous = _SOUNDEX_CODES.get(first, "")
    for ch in letters[1:]:
        code = _SOUNDEX_CODES.get(ch, "")
        if code and code != previous:
            digits.append(code)
        # h and w do not separate equal codes; vowels do.
        if ch not in "hw":
            previous = code
    return (first.upper() + "".join(digits) + "000")[:4]


def phonetic_codes(text: str) -> list[str]:
    codes = (soundex(word) for word in re.split(r"[^a-z]+", fold(text)))
    return sorted({code for code in codes if code})
