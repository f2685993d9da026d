"""Whose access a link acts with: its creator's, never more.

A link stores the creator's access (`fhir_server.security.access.kept`: an `AccessContext` it can rebuild,
never the token, with the revocation generations of the creator's user and client). Every file of the link
is built with a SecuredStore for that access, so a link shows the intersection of what its creator could read
and what the link names; and when the creator's user or client is deleted or disabled (its generation moves
on) the link stops granting anything.
"""

from __future__ import annotations

import hashlib

import orjson
from starlette.requests import HTTPConnection

from fhir_server.security.access.kept import KeptAccess
from fhir_server.security.enforcement.checks import access_of


class Creator(KeptAccess):
    """A link's creator (`fhir_server.security.access.kept`)."""

    @property
    def key(self) -> str:
        """Equal for two requests with the same access (a link made by one may be handed to the other)."""
        doc = self.to_doc()
        return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()


def creator_of(request: HTTPConnection) -> Creator:
    """The verified caller of this request as a link's creator."""
    return Creator.of(access_of(request))
