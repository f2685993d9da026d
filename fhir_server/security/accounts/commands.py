"""CLI commands of the authorization server (`fhir-server COMMAND --data-dir D …`):

  token  --scope "system/*.cruds" [--patient ID] [--expires-in S] [--aud URL]   print an access token
  client add|list|remove|disable|enable …      user add|list|remove|disable|enable …
  launch [--patient ID]      keys rotate|list

Removing or disabling a client or user revokes all its tokens, also in a server running on the data dir.

Like every command they work whether or not a server runs on the data dir: keys and registrations live in
its database, so a server started later, or already running, accepts what they create.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fhir_server.audit.log import AuditRecord, Who
from fhir_server.resource_types import MODELS
from fhir_server.search import index as search_index
from fhir_server.search.migration import ensure_server_schema
from fhir_server.security.accounts.clients import Client, ClientRegistrationError, new_client
from fhir_server.security.accounts.users import User, UserError
from fhir_server.security.components import AuthComponents, build_auth
from fhir_server.security.enforcement.policy import ROLES
from fhir_server.security.enforcement.scopes import ScopeSet
from fhir_server.security.oauth.access_tokens import Grant, mint_access_token
from fhir_server.security.oauth.signing_keys import MAX_SIGNED_LIFETIME
from fhir_server.security.oauth.urls import Urls
from fhir_server.security.server_base import announced_base
from fhir_server.settings import Settings
from fhir_server.storage.connection import connect
from fhir_server.storage.mongo import MongoRepository

Command = Callable[[argparse.Namespace, Settings], int]


@contextmanager
def _auth(settings: Settings) -> Iterator[AuthComponents]:
    connection = connect(settings, "cli")
    try:
        ensure_server_schema(connection, None)  # indexes only: re-indexing is the server's start-up
        repository = MongoRepository(connection, list(MODELS), search_index.index_values)
        auth = build_auth(settings, connection, repository, background_audit=False)
        try:
            yield auth
        finally:
            auth.close()
    finally:
        connection.close()


def _token(args: argparse.Namespace, settings: Settings) -> int:
    scopes = ScopeSet.parse(args.scope)
    if not scopes.resource and not scopes.other:
        print("error: --scope names no SMART scope, e.g. --scope 'system/*.cruds'", file=sys.stderr)
        return 2
    lifetime = int(args.expires_in)
    if not 60 <= lifetime <= MAX_SIGNED_LIFETIME.total_seconds():
        print("error: --expires-in must be between 60 and 86400 seconds", file=sys.stderr)
        return 2
    with _auth(settings) as auth:
        if args.patient and not _patient_exists(auth, args.patient):
            print(f"warning: Patient/{args.patient} does not exist (yet)", file=sys.stderr)
        urls = Urls.for_base(args.aud or announced_base(auth.documents, settings))
        grant = Grant(
            subject=args.subject,
            scope=scopes.text,
            client_id="cli",
            patient=args.patient,
            role="admin",
            # So that deleting or disabling a user named like --subject revokes this token as well.
            generations=auth.revocations.current(args.subject, "cli"),
        )
        token, _claims = mint_access_token(auth.keys, urls, grant, lifetime)
        auth.audit.record(
            AuditRecord(
                category="login",
                subtype="token",
                action="E",
                outcome="0",
                who=Who(args.subject, client_id="cli", role="admin"),
                patients=(args.patient,) if args.patient else (),
                description=f"token issued by the CLI: {scopes.text}",
            )
        )
    print(
        f"# access token for {urls.fhir_base}, scope {scopes.text!r}, expires in {lifetime} s",
        file=sys.stderr,
    )
    print(token)
    return 0


def _patient_exists(auth: AuthComponents, patient: str) -> bool:
    version = auth.repository.read("Patient", patient) if auth.repository else None
    return version is not None and not version.deleted


def _client_add(args: argparse.Namespace, settings: Settings) -> int:
    jwks = json.loads(Path(args.jwks_file).read_text()) if args.jwks_file else None
    try:
        client, secret = new_client(
            client_id=args.id,
            name=args.name or args.id or "",
            kind=args.kind,
            scope=args.scope,
            redirect_uris=args.redirect_uri or [],
            secret=args.secret,
            jwks=jwks,
            jwks_url=args.jwks_url,
            introspect=args.introspect,
        )
        with _auth(settings) as auth:
            auth.clients.add(client)
    except ClientRegistrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    view = client.public_view()
    if secret:
        view["client_secret"] = secret
    print(json.dumps(view, indent=2))
    return 0


def _client_list(args: argparse.Namespace, settings: Settings) -> int:
    with _auth(settings) as auth:
        print(json.dumps([c.public_view() for c in auth.clients.list()], indent=2))
    return 0


def _client_remove(args: argparse.Namespace, settings: Settings) -> int:
    with _auth(settings) as auth:
        removed = auth.clients.remove(args.client_id)
    print(
        "removed" if removed else f"no client {args.client_id!r}", file=sys.stdout if removed else sys.stderr
    )
    return 0 if removed else 1


def _client_status(args: argparse.Namespace, settings: Settings) -> int:
    with _auth(settings) as auth:
        client = auth.clients.set_disabled(args.client_id, args.disabled)
    return _print_status(client, f"no client {args.client_id!r}", indent=2)


def _print_status(found: Client | User | None, missing: str, indent: int | None = None) -> int:
    """What `client|user disable|enable` print: the updated registration, or that there is none."""
    if found is None:
        print(missing, file=sys.stderr)
        return 1
    print(json.dumps(found.public_view(), indent=indent))
    return 0


def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = args.password or getpass.getpass(f"password for {args.username}: ")
    fhir_user = args.fhir_user or (f"Patient/{args.patient}" if args.patient else None)
    try:
        with _auth(settings) as auth:
            user = auth.users.add(args.username, password, args.role, fhir_user, args.name)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(user.public_view()))
    return 0


def _user_list(args: argparse.Namespace, settings: Settings) -> int:
    with _auth(settings) as auth:
        print(json.dumps([u.public_view() for u in auth.users.list()], indent=2))
    return 0


def _user_remove(args: argparse.Namespace, settings: Settings) -> int:
    with _auth(settings) as auth:
        removed = auth.users.remove(args.username)
    print("removed" if removed else f"no user {args.username!r}", file=sys.stdout if removed else sys.stderr)
    return 0 if removed else 1


def _user_status(args: argparse.Namespace, settings: Settings) -> int:
    with _auth(settings) as auth:
        user = auth.users.set_disabled(args.username, args.disabled)
    return _print_status(user, f"no user {args.username!r}")


def _launch(args: argparse.Namespace, settings: Settings) -> int:
    with _auth(settings) as auth:
        context = auth.launches.create(args.patient, args.client_id)
    print(context.launch)
    return 0


def _keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    with _auth(settings) as auth:
        kid = auth.keys.rotate()
    print(f"new signing key {kid}; older keys keep verifying until their tokens have expired")
    return 0


def _keys_list(args: argparse.Namespace, settings: Settings) -> int:
    with _auth(settings) as auth:
        rows: list[dict[str, Any]] = auth.keys.describe()
    for row in rows:
        state = f"retired {row['retired']:%Y-%m-%d %H:%M}" if row["retired"] else "signing"
        print(f"{row['kid']}  created {row['created']:%Y-%m-%d %H:%M}  {state}")
    return 0


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    token = sub.add_parser("token", help="print a signed access token (last line of stdout)")
    common(token)
    token.add_argument(
        "--scope", required=True, help='SMART scopes, e.g. "system/*.cruds" or "admin system/*.rs"'
    )
    token.add_argument("--patient", help="launch context patient id (for patient/ scopes)")
    token.add_argument(
        "--expires-in", default=3600, type=int, help="lifetime in seconds (60-86400, default 3600)"
    )
    token.add_argument("--aud", help="FHIR base the token is for (default: the server's on this data dir)")
    token.add_argument("--subject", default="cli", help="who the token stands for in audit events")
    token.set_defaults(func=_token)

    client = sub.add_parser("client", help="register and list client applications").add_subparsers(
        dest="client_command", required=True
    )
    add = client.add_parser("add", help="register a client")
    common(add)
    add.add_argument("--id", help="client_id (default: generated)")
    add.add_argument("--name", help="display name shown on the consent page")
    add.add_argument(
        "--kind", required=True, choices=["public", "confidential-symmetric", "confidential-asymmetric"]
    )
    add.add_argument("--scope", required=True, help="the scopes the client may ask for")
    add.add_argument("--redirect-uri", action="append", help="exact redirect URI (repeatable)")
    add.add_argument("--jwks-file", help="JWKS (public keys) of a confidential-asymmetric client")
    add.add_argument("--jwks-url", help="JWKS URL of a confidential-asymmetric client")
    add.add_argument(
        "--secret", help="secret of a confidential-symmetric client (default: generated, printed)"
    )
    add.add_argument("--introspect", action="store_true", help="may introspect any token (resource servers)")
    add.set_defaults(func=_client_add)
    listing = client.add_parser("list", help="list clients")
    common(listing)
    listing.set_defaults(func=_client_list)
    remove = client.add_parser("remove", help="remove a client (revokes its tokens)")
    common(remove)
    remove.add_argument("client_id")
    remove.set_defaults(func=_client_remove)
    cdisable = client.add_parser("disable", help="disable a client (revokes its tokens)")
    common(cdisable)
    cdisable.add_argument("client_id")
    cdisable.set_defaults(func=_client_status, disabled=True)
    cenable = client.add_parser("enable", help="enable a disabled client (its old tokens stay revoked)")
    common(cenable)
    cenable.add_argument("client_id")
    cenable.set_defaults(func=_client_status, disabled=False)

    user = sub.add_parser("user", help="manage login accounts").add_subparsers(
        dest="user_command", required=True
    )
    uadd = user.add_parser("add", help="add a user (password prompted, or --password-stdin)")
    common(uadd)
    uadd.add_argument("username")
    uadd.add_argument("--role", required=True, choices=list(ROLES))
    uadd.add_argument("--patient", help="for a patient user: their Patient id")
    uadd.add_argument("--fhir-user", help="fhirUser reference, e.g. Practitioner/7")
    uadd.add_argument("--name", help="display name")
    uadd.add_argument("--password", help="password (visible in the process list; prefer the prompt)")
    uadd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    uadd.set_defaults(func=_user_add)
    ulist = user.add_parser("list", help="list users")
    common(ulist)
    ulist.set_defaults(func=_user_list)
    uremove = user.add_parser("remove", help="remove a user (revokes their tokens)")
    common(uremove)
    uremove.add_argument("username")
    uremove.set_defaults(func=_user_remove)
    udisable = user.add_parser("disable", help="disable a user (revokes their tokens)")
    common(udisable)
    udisable.add_argument("username")
    udisable.set_defaults(func=_user_status, disabled=True)
    uenable = user.add_parser("enable", help="enable a disabled user (their old tokens stay revoked)")
    common(uenable)
    uenable.add_argument("username")
    uenable.set_defaults(func=_user_status, disabled=False)

    launch = sub.add_parser("launch", help="create an EHR launch context; prints the launch id")
    common(launch)
    launch.add_argument("--patient", help="patient in context")
    launch.add_argument("--client-id", help="only this client may use the launch")
    launch.set_defaults(func=_launch)

    keys = sub.add_parser("keys", help="token signing keys").add_subparsers(
        dest="keys_command", required=True
    )
    rotate = keys.add_parser("rotate", help="new signing key; old ones verify until their tokens expire")
    common(rotate)
    rotate.set_defaults(func=_keys_rotate)
    klist = keys.add_parser("list", help="list signing keys")
    common(klist)
    klist.set_defaults(func=_keys_list)
