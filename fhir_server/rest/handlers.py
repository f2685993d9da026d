"""The handlers of the route table (fhir_server.rest.routes): each takes what its interaction needs from the
`FhirRequest` and calls it. The spec sections are cited by the interaction modules."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fhir_server.core.negotiation import MERGE_PATCH, check_request_body_type, patch_body_type
from fhir_server.core.request import FhirRequest
from fhir_server.core.result import FhirResult
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions import (
    conditional,
    create,
    delete,
    everything,
    history,
    patch,
    read,
    search_type,
    update,
    validate,
    vread,
)
from fhir_server.interactions import terminology_operations as terminology
from fhir_server.interactions.capabilities import capability_statement
from fhir_server.resource_types import require_type
from fhir_server.validation import parse_json

_FORM = "application/x-www-form-urlencoded"


def _body(req: FhirRequest) -> bytes:
    check_request_body_type(req.header("content-type"))
    return req.body


def metadata(req: FhirRequest) -> FhirResult:
    return FhirResult(resource=capability_statement(req.services.capabilities, req.base_url))


def read_resource(req: FhirRequest) -> FhirResult:
    return read.read(
        req.store,
        req.context,
        req.resource_type,
        req.id,
        if_none_match=req.header("if-none-match"),
        if_modified_since=req.header("if-modified-since"),
    )


def vread_resource(req: FhirRequest) -> FhirResult:
    return vread.vread(req.store, req.context, req.resource_type, req.id, req.vid)


def create_resource(req: FhirRequest) -> FhirResult:
    body = _body(req)
    services, store = req.services, req.store
    if_none_exist = conditional.create_criteria(req.header("if-none-exist"), req.query)
    if if_none_exist is not None:
        return conditional.create_if_none_exist(
            store.search_engine(req.resource_type),  # the criteria are a search
            services.criteria_locks(),
            store,
            req.context,
            services.rules,
            req.resource_type,
            body,
            if_none_exist,
        )
    return create.create(store, req.context, services.rules, req.resource_type, body)


def update_resource(req: FhirRequest) -> FhirResult:
    body = _body(req)
    return update.update(
        req.store,
        req.context,
        req.services.rules,
        req.resource_type,
        req.id,
        body,
        if_match=req.header("if-match"),
    )


def patch_resource(req: FhirRequest) -> FhirResult:
    return patch.patch(
        req.store,
        req.context,
        req.services.rules,
        req.resource_type,
        req.id,
        req.body,
        if_match=req.header("if-match"),
        merge=patch_body_type(req.header("content-type")) == MERGE_PATCH,
    )


def delete_resource(req: FhirRequest) -> FhirResult:
    return delete.delete(req.store, req.context, req.resource_type, req.id, if_match=req.header("if-match"))


def _type_level_only(req: FhirRequest) -> None:
    # PUT/DELETE [base]/[type] share their path with /metadata and /_history, which allow GET only.
    if not req.resource_type[:1].isupper():
        raise FhirError(
            Problem.METHOD_NOT_ALLOWED, f"{req.method} is not allowed on /fhir/{req.resource_type}"
        )


def conditional_update(req: FhirRequest) -> FhirResult:
    _type_level_only(req)
    body = _body(req)
    store = req.store
    return conditional.conditional_update(
        store.search_engine(req.resource_type),  # the criteria are a search
        req.services.criteria_locks(),
        store,
        req.context,
        req.services.rules,
        req.resource_type,
        req.query_string,
        body,
        if_match=req.header("if-match"),
    )


def conditional_delete(req: FhirRequest) -> FhirResult:
    _type_level_only(req)
    store = req.store
    return conditional.conditional_delete(
        store.search_engine(req.resource_type),  # the criteria are a search
        store,
        req.context,
        req.resource_type,
        req.query_string,
        max_matches=req.services.settings.max_conditional_delete,
    )


def _history(req: FhirRequest, resource_type: str | None, resource_id: str | None) -> FhirResult:
    settings = req.services.settings
    return history.history(
        req.store,
        req.context,
        req.query_dict(),
        resource_type=resource_type,
        resource_id=resource_id,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
    )


def history_system(req: FhirRequest) -> FhirResult:
    return _history(req, None, None)


def history_type(req: FhirRequest) -> FhirResult:
    return _history(req, req.resource_type, None)


def history_instance(req: FhirRequest) -> FhirResult:
    return _history(req, req.resource_type, req.id)


def _search(req: FhirRequest, pairs: list[tuple[str, str]]) -> FhirResult:
    settings = req.services.settings
    require_type(req.resource_type)
    store = req.store
    engine = store.search_engine(req.resource_type, pairs)
    shown = store.showing()
    result = search_type.search(
        engine,
        req.context,
        req.resource_type,
        pairs,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
        visible=shown.visible,
    )
    shown.record(req.audit_path)
    return result


def search_get(req: FhirRequest) -> FhirResult:
    return _search(req, list(req.query))


def search_post(req: FhirRequest) -> FhirResult:
    media = (req.header("content-type") or _FORM).split(";", 1)[0].strip().lower()
    if media != _FORM:
        raise FhirError(Problem.UNSUPPORTED_MEDIA_TYPE, f"POST _search takes a {_FORM} body, not '{media}'")
    body = req.body.decode("utf-8", errors="replace")
    return _search(req, [*req.query, *parse_qsl(body, keep_blank_values=True)])


def patient_everything(req: FhirRequest) -> FhirResult:
    settings = req.services.settings
    store = req.store
    engine = store.search_engine("Patient")
    shown = store.showing()
    result = everything.patient_everything(
        engine,
        store,
        req.context,
        req.id,
        req.query_dict(),
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
        visible=shown.visible,
    )
    shown.record(req.audit_path)
    return result


def validate_resource(req: FhirRequest) -> FhirResult:
    """$validate checks a resource before it is written: it needs create or update on the type."""
    check_request_body_type(req.header("content-type"))
    store = req.store
    if not (store.may("create", req.resource_type) or store.may("update", req.resource_type)):
        raise FhirError(Problem.FORBIDDEN, f"$validate needs create or update access to {req.resource_type}")
    return validate.validate(req.context, req.services.rules, req.resource_type, req.body, req.id or None)


# -- the read-only terminology resources (CodeSystem, ValueSet, ConceptMap, NamingSystem) ------------------


def _terminology_parameters(req: FhirRequest) -> object:
    if req.method in ("GET", "HEAD"):
        return terminology.QueryValues.of(req.query)
    check_request_body_type(req.header("content-type"))
    return parse_json(req.body)


def terminology_operation(req: FhirRequest) -> FhirResult:
    params = _terminology_parameters(req)
    return terminology.operation(
        req.services.terminology, req.context, req.resource_type, req.operation, params, req.id or None
    )


def terminology_read(req: FhirRequest) -> FhirResult:
    return terminology.read(req.services.terminology, req.context, req.resource_type, req.id)


def terminology_search(req: FhirRequest) -> FhirResult:
    return terminology.search(req.services.terminology, req.context, req.resource_type, req.query_dict())


def terminology_write(req: FhirRequest) -> FhirResult:
    raise FhirError(
        Problem.METHOD_NOT_ALLOWED,
        f"{req.resource_type} resources are read-only here: they ship with the server's terminology",
    )
