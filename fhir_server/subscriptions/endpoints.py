"""Where a rest-hook may send notifications: https anywhere, plain http only to this machine (loopback) or
to hosts an administrator allowed (`FHIR_SUBSCRIPTION_ALLOWED_HOSTS`). A subscription must not turn the
server into a scanner of the hospital network behind it (SSRF): a private address over http, a `file:` URL
or user info in the URL are refused at creation with a 400 naming `channel.endpoint`."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from fhir_server.errors import FhirError, Problem

_LOOPBACK_NAMES = frozenset({"localhost"})


def check_endpoint(url: str, allowed_hosts: str) -> None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    problem: str | None = None
    if parts.scheme not in ("http", "https") or not host:
        problem = "must be an absolute https URL"
    elif parts.username is not None or parts.password is not None:
        problem = "must not carry user information (use channel.header for credentials)"
    elif parts.fragment:
        problem = "must not have a fragment"
    elif parts.scheme == "http" and not (_loopback(host) or host in _allowed(allowed_hosts)):
        problem = (
            "must be https, or http to a loopback address or a host the administrator allowed "
            "(FHIR_SUBSCRIPTION_ALLOWED_HOSTS)"
        )
    if problem is not None:
        raise FhirError(
            Problem.INVALID, f"The rest-hook endpoint {problem}", ["Subscription.channel.endpoint"]
        )


def _allowed(allowed_hosts: str) -> set[str]:
    return {h.strip().lower() for h in allowed_hosts.split(",") if h.strip()}


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
