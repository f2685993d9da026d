"""How codes are compared inside one code system (exact, case-insensitive, or free text)."""

import re
from collections.abc import Callable
from typing import Any

from terminology.systems import LEGACY_MODALITY_SYSTEM

CodeKey = Callable[[str], str]

_FREE_TEXT_SEPARATORS = re.compile(r"[\s\-_/.]+")

# Code systems whose "codes" are human-typed text: spelling variants must meet in one key.
FREE_TEXT_SYSTEMS = frozenset({LEGACY_MODALITY_SYSTEM})


def exact(code: str) -> str:
    return code


def case_insensitive(code: str) -> str:
    return code.strip().casefold()


def free_text(code: str) -> str:
    """'X-Ray', 'x ray' and 'XRAY' all become 'xray'; 'PET/CT' and 'PET-CT' become 'petct'."""
    return _FREE_TEXT_SEPARATORS.sub("", code.casefold())


def key_function(system: str, code_system: dict[str, Any] | None) -> CodeKey:
    if system in FREE_TEXT_SYSTEMS:
        return free_text
    # R4 leaves caseSensitive unset as "unknown"; treat that as exact, the safe reading.
    if code_system is not None and code_system.get("caseSensitive") is False:
        return case_insensitive
    return exact
