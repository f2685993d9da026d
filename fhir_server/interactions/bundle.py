"""batch and transaction: POST [base] with a Bundle (https://hl7.org/fhir/R4/http.html#transaction).

A transaction runs in one MongoDB multi-document transaction: all entries apply or none. Entries are
processed in the spec's order (DELETE, POST, PUT/PATCH, GET/HEAD) and answered in the request's order.
`urn:uuid:` fullUrls of POSTed resources get server ids before anything is written, and every reference to
them is rewritten; conditional references (`Patient?identifier=…`) must match exactly one resource.
Batch entries succeed or fail one by one, each failure answered by its own OperationOutcome.

Every entry is a `FhirRequest` dispatched through the same route table as HTTP (fhir_server.rest.routes), with
the caller's store re-bound to the entry's route; rows marked `in_bundle` may be named (read, vread, history,
create, update, patch, delete, and search in a batch). `entry.response` is made from the handler's
`FhirResult`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import orjson

from fhir_server.core.context import RequestContext
from fhir_server.core.negotiation import check_request_body_type
from fhir_server.core.request import FhirRequest, Headers
from fhir_server.core.result import FhirResult
from fhir_server.core.routing import RouteTable
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.common import WriteRules
from fhir_server.resource_types import MODELS, require_type
from fhir_server.search.locks import CriteriaLock, criteria_key
from fhir_server.search.matching import parse_criteria
from fhir_server.security.access.store import SecuredStore
from fhir_server.storage.mongo import TransactionsUnsupported, format_instant
from fhir_server.storage.repository import ResourceVersion
from fhir_server.validation import check_resource_shape, parse_json

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclass
class _Entry:
    index: int
    method: str
    url: str
    resource: dict[str, Any] | None
    full_url: str | None
    if_match: str | None
    if_none_exist: str | None
    assigned: str | None = None  # "Type/id" chosen for a POST before anything is written

    @property
    def if_none_exist_query(self) -> str:
        # Clients send `identifier=x` or a whole `Patient?identifier=x`: the criteria are the query part.
        # A POST whose url carries a query (`Patient?identifier=x`) is the same conditional create.
        value = self.if_none_exist or ""
        return value.partition("?")[2] or value or self.url.partition("?")[2]

    @property
    def conditional_create(self) -> bool:
        return self.method == "POST" and bool(self.if_none_exist_query)


def batch_or_transaction(req: FhirRequest, table: RouteTable) -> FhirResult:
    """POST [base]: the handler of the table's batch/transaction row."""
    check_request_body_type(req.header("content-type"))
    settings = req.services.settings
    return process(
        req,
        table,
        req.store,
        max_entries=settings.max_bundle_entries,
        locks=req.services.criteria_locks(),
    )


def process(
    req: FhirRequest,
    table: RouteTable,
    repository: SecuredStore,
    *,
    max_entries: int,
    locks: CriteriaLock,
) -> FhirResult:
    bundle = parse_json(req.body)
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirError(
            Problem.INVALID, "POST [base] takes a Bundle of type batch or transaction", ["Bundle"]
        )
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise FhirError(
            Problem.INVALID, f"Bundle.type must be batch or transaction, not {kind!r}", ["Bundle.type"]
        )
    raw_entries = _entries(bundle)
    if len(raw_entries) > max_entries:
        raise FhirError(
            Problem.TOO_LARGE,
            f"The Bundle has {len(raw_entries)} entries; this server takes at most {max_entries} per batch "
            "or transaction (FHIR_MAX_BUNDLE_ENTRIES): split it",
            ["Bundle.entry"],
        )
    entries = [_parse_entry(i, e) for i, e in enumerate(raw_entries)]
    runner = _Runner(req, table)
    ctx = req.context
    if kind == "batch":
        results = [runner.run_isolated(repository, e, locks) for e in entries]
        return _response_bundle(ctx, "batch-response", results)
    try:
        # Every ifNoneExist's criteria lock is held until the transaction has committed, so parallel
        # transactions creating "the same" resource serialize and the second one finds the first's.
        with _criteria_locks(locks, entries), repository.transaction() as tx:
            runner.prepare_transaction(tx, entries)
            results_by_index = {
                e.index: runner.run(tx, e) for e in sorted(entries, key=lambda e: _ORDER[e.method])
            }
    except TransactionsUnsupported as exc:
        raise FhirError(Problem.NOT_SUPPORTED, str(exc)) from None
    return _response_bundle(ctx, "transaction-response", [results_by_index[e.index] for e in entries])


def _entries(bundle: dict[str, Any]) -> list[Any]:
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise FhirError(Problem.STRUCTURE, "Bundle.entry must be an array", ["Bundle.entry"])
    return entries


def _parse_entry(index: int, raw: Any) -> _Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
        raise FhirError(Problem.REQUIRED, f"{where} needs a request", [f"{where}.request"])
    request = raw["request"]
    method = str(request.get("method", "")).upper()
    if method not in _ORDER:
        raise FhirError(
            Problem.VALUE, f"{where}: unsupported request.method {method!r}", [f"{where}.request.method"]
        )
    url = request.get("url")
    if not isinstance(url, str) or not url:
        raise FhirError(Problem.REQUIRED, f"{where} needs request.url", [f"{where}.request.url"])
    resource = raw.get("resource")
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise FhirError(Problem.REQUIRED, f"{where}: {method} needs a resource", [f"{where}.resource"])
    return _Entry(
        index, method, url, resource, raw.get("fullUrl"), request.get("ifMatch"), request.get("ifNoneExist")
    )


class _Runner:
    def __init__(self, request: FhirRequest, table: RouteTable) -> None:
        self.request = request
        self.table = table
        self.ctx = request.context
        self.rules: WriteRules = request.services.rules
        self.references: dict[str, str] = {}
        self.in_transaction = False

    # -- transaction preparation -----------------------------------------------------------------------

    def prepare_transaction(self, repository: SecuredStore, entries: list[_Entry]) -> None:
        self.in_transaction = True
        for e in entries:
            path, _ = self._split(e)
            if e.method == "POST":
                e.assigned = f"{path}/{uuid.uuid4()}"
                if e.full_url:
                    self.references[e.full_url] = e.assigned
            elif e.method == "PUT" and e.full_url and "?" not in e.url:
                self.references[e.full_url] = path
        for e in entries:
            if e.resource is not None:
                e.resource = self._rewrite(repository, e, e.resource)

    def _rewrite(self, repository: SecuredStore, entry: _Entry, value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key == "reference" and isinstance(item, str):
                    out[key] = self._resolve_reference(repository, entry, item)
                else:
                    out[key] = self._rewrite(repository, entry, item)
            return out
        if isinstance(value, list):
            return [self._rewrite(repository, entry, v) for v in value]
        return value

    def _resolve_reference(self, repository: SecuredStore, entry: _Entry, reference: str) -> str:
        if reference in self.references:
            return self.references[reference]
        if reference.startswith("urn:uuid:"):
            raise FhirError(
                Problem.NOT_FOUND,
                f"Bundle.entry[{entry.index}]: reference {reference} matches no fullUrl in the transaction",
                [f"Bundle.entry[{entry.index}].resource"],
            )
        resource_type, _, query = reference.partition("?")
        if query and resource_type in MODELS:
            ids = self._find(repository, entry, resource_type, query)
            if len(ids) != 1:
                raise FhirError(
                    Problem.PRECONDITION_FAILED,
                    f"Bundle.entry[{entry.index}]: conditional reference {reference} "
                    f"matched {len(ids)} resources "
                    "(exactly one required)",
                    [f"Bundle.entry[{entry.index}].resource"],
                )
            self.references[reference] = f"{resource_type}/{ids[0]}"
            return self.references[reference]
        return reference

    def _find(self, repository: SecuredStore, entry: _Entry, resource_type: str, query: str) -> list[str]:
        # Through the caller's store: a conditional reference or ifNoneExist only ever matches what the
        # caller may search, so a stranger's resource is indistinguishable from none.
        return repository.find_ids(resource_type, query)

    # -- running entries --------------------------------------------------------------------------------

    def run_isolated(self, repository: SecuredStore, entry: _Entry, locks: CriteriaLock) -> dict[str, Any]:
        try:
            if entry.method == "POST":
                entry.assigned = f"{self._split(entry)[0]}/{uuid.uuid4()}"
            with _criteria_locks(locks, [entry]):
                return self.run(repository, entry)
        except FhirError as exc:
            return {"response": {"status": _status(exc.status), "outcome": exc.outcome()}}

    def run(self, repository: SecuredStore, entry: _Entry) -> dict[str, Any]:
        try:
            return self._run(repository, entry)
        except FhirError as exc:
            where = f"Bundle.entry[{entry.index}]"
            raise FhirError(
                exc.problem,
                f"{where}: {exc.diagnostics}",
                [f"{where}.{e}" for e in exc.expression] or [where],
                extra_issues=exc.extra_issues,
                headers=exc.headers,
            ) from None

    def _run(self, repository: SecuredStore, entry: _Entry) -> dict[str, Any]:
        """The entry as a request through the table, its store bound to its route (`FhirRequest.store`)."""
        path, query = self._split(entry)
        found = self.table.match(entry.method, path)
        if found is None or not found.route.in_bundle or found.route.handler is None:
            raise FhirError(Problem.NOT_SUPPORTED, f"{entry.method} {entry.url} is not supported in a bundle")
        outer = self.request
        request = FhirRequest(
            method=entry.method,
            path=path,
            services=outer.services,
            query=tuple(parse_qsl(query, keep_blank_values=True)),
            headers=Headers([("If-Match", entry.if_match)] if entry.if_match else []),
            body=orjson.dumps(entry.resource) if entry.resource is not None else b"",
            base_url=outer.base_url,
            prefer=outer.prefer,
            pretty=outer.pretty,
            caller=repository,
            components=outer.components,
            audit_path=f"{outer.audit_path} entry[{entry.index}] {entry.method} {path}",
        ).bound(found.route, found.params)
        if self.in_transaction and found.route.interaction == "search-type":
            # The search engine reads committed data: in a transaction it would miss the bundle's own writes.
            raise FhirError(
                Problem.NOT_SUPPORTED,
                "Search is not supported inside a transaction; use a batch or a separate request",
            )
        if found.route.interaction == "create":
            # Not the create handler: the id was assigned before anything ran (urn:uuid rewriting), and
            # ifNoneExist is answered here, under the criteria locks the bundle already holds.
            return self._create(request.store, entry, request.resource_type, query)
        return _from_result(found.route.handler(request))

    def _create(
        self, repository: SecuredStore, entry: _Entry, resource_type: str, query: str
    ) -> dict[str, Any]:
        require_type(resource_type)
        if (
            query
            and entry.if_none_exist
            and sorted(parse_qsl(query)) != sorted(parse_qsl(entry.if_none_exist_query))
        ):
            raise FhirError(
                Problem.INVALID,
                "The POST url's query and ifNoneExist are both conditions and differ; send one of them",
                ["request.url"],
            )
        if entry.conditional_create:
            ids = self._find(repository, entry, resource_type, entry.if_none_exist_query)
            if len(ids) > 1:
                raise FhirError(Problem.PRECONDITION_FAILED, f"ifNoneExist matched {len(ids)} resources")
            if ids:
                existing = repository.read(resource_type, ids[0])
                assert existing is not None
                if entry.full_url:
                    self.references[entry.full_url] = existing.reference
                return _from_version(self.ctx, existing, "200 OK")
        data = check_resource_shape(entry.resource, resource_type)
        data.pop("id", None)
        resource, _ = self.rules.validate(data)
        assert entry.assigned is not None
        version = repository.create(resource, entry.assigned.split("/", 1)[1])
        return _from_version(self.ctx, version, "201 Created", location=True)

    def _split(self, entry: _Entry) -> tuple[str, str]:
        url = entry.url
        if url.startswith(self.ctx.base_url + "/"):
            url = url[len(self.ctx.base_url) + 1 :]
        path, _, query = url.partition("?")
        path = path.strip("/")
        if not path or (path.split("/")[0] not in MODELS and path != "_history"):
            require_type(path.split("/")[0] if path else "")
        return path, query


@contextmanager
def _criteria_locks(locks: CriteriaLock, entries: list[_Entry]) -> Iterator[None]:
    """Hold the criteria lock of every conditional create among `entries` (in key order, so two bundles
    never wait on each other crosswise)."""
    wanted: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for e in entries:
        if e.conditional_create:
            resource_type = e.url.split("?", 1)[0].strip("/").split("/")[-1]
            try:
                criteria = parse_criteria(resource_type, e.if_none_exist_query, "ifNoneExist")
            except FhirError:
                continue  # the entry itself answers the error when it runs
            wanted[criteria_key(resource_type, criteria)] = (resource_type, criteria)
    with ExitStack() as stack:
        for key in sorted(wanted):
            stack.enter_context(locks.hold(*wanted[key]))
        yield


def _status(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _from_version(
    ctx: RequestContext, version: ResourceVersion, status: str, location: bool = False
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "status": status,
        "etag": version.etag,
        "lastModified": format_instant(version.last_updated),
    }
    if location:
        response["location"] = f"{version.resource_type}/{version.id}/_history/{version.version}"
    entry: dict[str, Any] = {"fullUrl": ctx.url(version.resource_type, version.id), "response": response}
    if version.resource is not None and ctx.prefer.return_ == "representation":
        entry["resource"] = version.resource
    return entry


def _from_result(result: FhirResult) -> dict[str, Any]:
    out: dict[str, Any] = {"status": _status(result.status)}
    if "Location" in result.headers:
        out["location"] = result.headers["Location"]
    if "ETag" in result.headers:
        out["etag"] = result.headers["ETag"]
    if result.last_modified is not None:
        # Bundle.entry.response.lastModified is a FHIR instant, to the millisecond as stored.
        out["lastModified"] = format_instant(result.last_modified)
    entry: dict[str, Any] = {"response": out}
    body = result.body
    if body is not None:
        if body.get("resourceType") == "OperationOutcome":
            out["outcome"] = body
        else:
            entry["resource"] = body
    return entry


def _response_bundle(ctx: RequestContext, kind: str, entries: list[dict[str, Any]]) -> FhirResult:
    return FhirResult(resource={"resourceType": "Bundle", "type": kind, "entry": entries})
