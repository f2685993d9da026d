"""What the caller's token allows a search to show (the checks themselves are in fhir_server.auth).

`confinement` are search criteria ANDed into every search of the type (a patient-level token's
compartment), so totals and pages only ever count what the caller may see; `visible` is checked on every
resource a search returns, matches and includes alike, as the last line of defence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Visible = Callable[[str, dict[str, Any]], bool]


def _everything_visible(resource_type: str, resource: dict[str, Any]) -> bool:
    return True


@dataclass(frozen=True)
class SearchAccess:
    confinement: Sequence[tuple[str, str]] = ()
    visible: Visible = field(default=_everything_visible)


OPEN = SearchAccess()
