"""Finding resource ids by identifier, for Patient matching, legacy-study adoption and hospital registration.

Goes through the search engine's published `find_ids(repository, resource_type, query_string)`
(`Services.find_ids`, https://hl7.org/fhir/R4/search.html#token), so matching follows search semantics.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fhir_server.interactions import conditional
from fhir_server.interactions.conditional import FindIds

__all__ = ["FindIds", "identifier_query", "resolve_find_ids"]

_ESCAPED = ("\\", "|", ",", "$")


def identifier_query(system: str | None, value: str) -> str:
    """`identifier=system|value` with the search escapes of R4 §3.1.1.5 and URL encoding."""
    token = f"{_escape(system or '')}|{_escape(value)}"
    return urlencode({"identifier": token})


def resolve_find_ids(published: FindIds | None) -> FindIds:
    """The server's published lookup; the search engine's own when a Services was built without one."""
    return published if published is not None else conditional.find_ids


def _escape(text: str) -> str:
    for char in _ESCAPED:
        text = text.replace(char, "\\" + char)
    return text
