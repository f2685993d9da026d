"""The `link`s of a searchset page (https://hl7.org/fhir/R4/http.html#paging): self, first, and the keyset
`_page` links to the previous and next pages (`fhir_server.search.paging`)."""

from __future__ import annotations

from fhir_server.search import paging
from fhir_server.search.request import SearchRequest

Links = list[tuple[str, list[tuple[str, str]]]]


def page_links(request: SearchRequest, page: paging.Page) -> Links:
    base = list(request.link_params)
    links: Links = [
        ("self", base + ([("_page", request.page)] if request.page else [])),
        ("first", base),
    ]
    if page.previous is not None:
        # IANA registers both names; R4 servers and clients use either.
        previous = [*base, ("_page", paging.encode(page.previous))]
        links += [("prev", previous), ("previous", previous)]
    if page.next is not None:
        links.append(("next", [*base, ("_page", paging.encode(page.next))]))
    return links
