"""`POST [base]/Patient/$merge`, after FHIR R5 Patient-merge
(https://build.fhir.org/patient-operation-merge.html), on R4 resources.

In: `source-patient` / `target-patient` (Reference) or `source-patient-identifier` /
`target-patient-identifier` (Identifier, every one must be on the Patient; they must select exactly one),
`preview` (boolean), `result-patient` (Patient: the target as it should be after the merge).
Out: a Parameters with `input` (the request's Parameters), `outcome` (OperationOutcome: what changed, or with
`preview=true` what would change, nothing written) and `result` (the target Patient after the merge).

What a merge does, in one database transaction (all or nothing):
- every ImagingStudy of the source gets `subject` = the target, so that the federation query
  (`ImagingStudy?patient.identifier=<national ID>`) and the target's `$everything` show them;
- the source gets `active: false` and a `link` of type `replaced-by` to the target; it is kept, not deleted
  (references from elsewhere and its history stay readable; a read of it says where the patient went);
- the target gets a `link` of type `replaces` to the source and, unless `result-patient` is given, the
  source's identifiers it lacks: the national ID as it is (it names the person), the others with
  `use: old` (the hospital-local ids of a record that no longer stands alone), so that a search by any of
  them still finds the patient.

Access is the caller's, through the secured store: update of both Patients and of every study moved, which
needs unrestricted search and update of ImagingStudy (a study the caller could not see would otherwise stay
behind with the inactive source). An admin user's or a `system/*.cruds` token can; a patient's token gets
the store's 403 (scopes) or 404 (a patient it may not see).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhir_server.errors import FhirError, Issue, Problem, operation_outcome
from fhir_server.interactions.common import WriteRules
from fhir_server.interactions.lookup import identifier_query
from fhir_server.interactions.patient_links import replaced_by
from fhir_server.resource_types import require_valid_id
from fhir_server.security.access.store import SecuredStore
from fhir_server.security.enforcement.policy import Action
from fhir_server.storage.errors import TransactionConflict
from fhir_server.storage.repository import ResourceVersion, TransactionsUnsupported, VersionConflict
from fhir_server.type_aliases import JsonObject
from fhir_server.validation import parameter_entries, validate_resource
from mappers.fhir_json import content

NAME = "Patient/$merge"

_VALUE_TYPES = {
    "source-patient": "valueReference",
    "target-patient": "valueReference",
    "source-patient-identifier": "valueIdentifier",
    "target-patient-identifier": "valueIdentifier",
    "preview": "valueBoolean",
}
_REPEATABLE = frozenset({"source-patient-identifier", "target-patient-identifier"})


@dataclass(frozen=True)
class PatientSelector:
    role: str  # "source" or "target"
    reference_id: str | None
    identifiers: tuple[tuple[str | None, str], ...]  # (system, value)


@dataclass(frozen=True)
class MergeRequest:
    source: PatientSelector
    target: PatientSelector
    preview: bool
    result_patient: JsonObject | None
    parameters: JsonObject  # as received, echoed as `input`


@dataclass
class MergePlan:
    source: ResourceVersion
    target: ResourceVersion
    studies: list[ResourceVersion]
    new_source: JsonObject
    new_target: JsonObject
    new_studies: list[JsonObject]
    notes: list[Issue] = field(default_factory=list)  # identifiers copied, warnings

    @property
    def source_ref(self) -> str:
        return self.source.reference

    @property
    def target_ref(self) -> str:
        return self.target.reference


@dataclass(frozen=True)
class MergeResult:
    plan: MergePlan
    parameters: JsonObject  # the operation's answer
    result: JsonObject  # the target after the merge (or as it would be)


# -- input ------------------------------------------------------------------------------------------------


def parse_request(data: Any, base_url: str) -> MergeRequest:
    entries = parameter_entries(data, NAME)
    values: dict[str, list[tuple[str, Any]]] = {}
    for where, entry in entries:
        name = entry["name"]
        if name == "result-patient":
            resource = entry.get("resource")
            if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
                raise _invalid(where, "result-patient must carry a Patient resource")
            values.setdefault(name, []).append((where, resource))
            continue
        value_type = _VALUE_TYPES.get(name)
        if value_type is None:
            known = ", ".join([*_VALUE_TYPES, "result-patient"])
            raise _invalid(where, f"unknown parameter {name!r}; {NAME} takes {known}")
        if value_type not in entry:
            raise _invalid(where, f"{name} needs {value_type}")
        values.setdefault(name, []).append((where, entry[value_type]))
    for name, given in values.items():
        if len(given) > 1 and name not in _REPEATABLE:
            raise _invalid(given[1][0], f"{name} is given more than once")
    preview = False
    if "preview" in values:
        where, flag = values["preview"][0]
        if not isinstance(flag, bool):
            raise _invalid(where, "preview must be true or false")
        preview = flag
    result = values["result-patient"][0][1] if "result-patient" in values else None
    return MergeRequest(
        source=_selector("source", values, base_url),
        target=_selector("target", values, base_url),
        preview=preview,
        result_patient=result,
        parameters=data,
    )


def _selector(role: str, values: dict[str, list[tuple[str, Any]]], base_url: str) -> PatientSelector:
    reference_id = None
    identifiers: list[tuple[str | None, str]] = []
    for where, reference in values.get(f"{role}-patient", []):
        if not isinstance(reference, dict):
            raise _invalid(where, f"{role}-patient must be a Reference")
        if reference.get("reference") is not None:
            reference_id = _patient_id(where, reference["reference"], base_url)
        if isinstance(reference.get("identifier"), dict):  # R5: the reference "may include an identifier"
            identifiers.append(_identifier(where, reference["identifier"]))
        if reference.get("reference") is None and not isinstance(reference.get("identifier"), dict):
            raise _invalid(where, f"{role}-patient needs a reference such as Patient/123")
    for where, identifier in values.get(f"{role}-patient-identifier", []):
        identifiers.append(_identifier(where, identifier))
    if reference_id is None and not identifiers:
        raise FhirError(
            Problem.REQUIRED,
            f"{NAME} needs {role}-patient (a reference) or {role}-patient-identifier",
            [f"Parameters.parameter.where(name='{role}-patient')"],
        )
    return PatientSelector(role, reference_id, tuple(identifiers))


def _patient_id(where: str, reference: Any, base_url: str) -> str:
    text = str(reference)
    base = base_url.rstrip("/") + "/"
    if text.startswith(base):
        text = text[len(base) :]
    kind, _, patient_id = text.partition("/")
    if kind != "Patient" or not patient_id or "/" in patient_id:
        raise _invalid(where, f"{str(reference)[:100]!r} is not a reference to a Patient on this server")
    require_valid_id(patient_id, f"{where}.valueReference.reference")
    return patient_id


def _identifier(where: str, identifier: Any) -> tuple[str | None, str]:
    if not isinstance(identifier, dict) or not isinstance(identifier.get("value"), str):
        raise _invalid(where, "an Identifier needs a value (and should have a system)")
    system = identifier.get("system")
    return (str(system) if system is not None else None, identifier["value"])


def _invalid(where: str, message: str) -> FhirError:
    return FhirError(Problem.INVALID, f"{where}: {message}", [where])


# -- the operation ----------------------------------------------------------------------------------------


def merge(store: SecuredStore, rules: WriteRules, request: MergeRequest, national_system: str) -> MergeResult:
    """Preview (nothing written) or merge in one transaction; raises FhirError (400/403/404/409/410/422)."""
    if request.preview:
        plan = plan_merge(store, rules, request, national_system)
        result = plan.new_target
    else:
        try:
            with store.transaction() as tx:
                plan = plan_merge(tx, rules, request, national_system)
                result = _apply(tx, plan)
        except TransactionsUnsupported as exc:
            raise FhirError(Problem.NOT_SUPPORTED, f"{NAME} needs database transactions: {exc}") from None
        except (VersionConflict, TransactionConflict):
            raise _changed_meanwhile() from None
    issues = _outcome(plan, request.preview)
    description = f"{NAME}{' preview' if request.preview else ''}: {plan.source_ref} into {plan.target_ref}"
    store.audit_shown(
        [
            ("Patient", plan.new_source),
            ("Patient", result),
            *(("ImagingStudy", s) for s in plan.new_studies),
        ],
        description,
    )
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "input", "resource": request.parameters},
            {"name": "outcome", "resource": operation_outcome(issues)},
            {"name": "result", "resource": result},
        ],
    }
    return MergeResult(plan, parameters, result)


def plan_merge(
    store: SecuredStore, rules: WriteRules, request: MergeRequest, national_system: str
) -> MergePlan:
    """What the merge changes, every read and check done as the caller; writes nothing."""
    _require_merge_scopes(store)  # decided by the token alone, before anything stored is looked at
    writer = store.for_interaction("update")
    source_id = _resolve(store, request.source)
    target_id = _resolve(store, request.target)
    if source_id == target_id:
        raise FhirError(
            Problem.INVALID, f"The source and the target are the same Patient/{source_id}: nothing to merge"
        )
    source = _live_patient(writer, source_id, "source")
    target = _live_patient(writer, target_id, "target")
    source_resource, target_resource = source.resource or {}, target.resource or {}
    if (already := replaced_by(source_resource)) is not None:
        raise FhirError(
            Problem.UNPROCESSABLE,
            f"Patient/{source_id} was already merged into Patient/{already} (link replaced-by)",
        )
    if (survivor := replaced_by(target_resource)) is not None:
        raise FhirError(
            Problem.UNPROCESSABLE,
            f"The target Patient/{target_id} was itself merged into Patient/{survivor}: merge into that one",
        )
    studies = _studies_of(store, writer, source_id)
    new_source = content(source_resource)
    new_source["active"] = False
    new_source["link"] = _with_link(new_source.get("link"), target_id, "replaced-by")
    notes: list[Issue] = []
    if request.result_patient is not None:
        new_target = _result_patient(request.result_patient, target_resource, target_id)
    else:
        new_target = content(target_resource)
        copied, notes = _copied_identifiers(source_resource, target_resource, national_system)
        if copied:
            new_target["identifier"] = [*(new_target.get("identifier") or []), *copied]
    new_target["link"] = _with_link(new_target.get("link"), source_id, "replaces")
    new_source, _ = rules.validate(new_source)
    new_target, _ = rules.validate(new_target)
    new_studies = []
    for study in studies:
        moved = content(study.resource or {})
        moved["subject"] = {"reference": f"Patient/{target_id}"}
        new_studies.append(validate_resource(moved)[0])
    for resource_type, resource in [("Patient", new_source), ("Patient", new_target)] + [
        ("ImagingStudy", s) for s in new_studies
    ]:
        if not store.may("update", resource_type, resource):
            raise FhirError(
                Problem.FORBIDDEN,
                f"The access token's scopes do not allow the update of {resource_type}/{resource['id']} "
                f"that {NAME} needs",
            )
    return MergePlan(source, target, studies, new_source, new_target, new_studies, notes)


def _apply(tx: SecuredStore, plan: MergePlan) -> JsonObject:
    """Every write of the plan, each against the version the plan read (a concurrent change aborts all)."""
    for study, moved in zip(plan.studies, plan.new_studies, strict=True):
        tx.update(moved, expected_version=study.version)
    tx.update(plan.new_source, expected_version=plan.source.version)
    written, _ = tx.update(plan.new_target, expected_version=plan.target.version)
    return written.resource or plan.new_target


def _resolve(store: SecuredStore, selector: PatientSelector) -> str:
    if not selector.identifiers:
        assert selector.reference_id is not None
        return selector.reference_id
    query = "&".join(identifier_query(system, value) for system, value in selector.identifiers)
    found = store.find_ids("Patient", query)
    if len(found) > 1:
        # A Patient merged away shares its identifiers with its survivor: the survivor is meant.
        found = [i for i in found if not _merged_away(store, i)]
    shown = ", ".join(f"{s or ''}|{v}" for s, v in selector.identifiers)
    expression = [f"Parameters.parameter.where(name='{selector.role}-patient-identifier')"]
    if len(found) != 1:
        what = "no Patient" if not found else f"{len(found)} Patients"
        raise FhirError(
            Problem.UNPROCESSABLE,
            f"The {selector.role}-patient-identifier(s) {shown} select {what}: they must select exactly one",
            expression,
        )
    if selector.reference_id is not None and selector.reference_id != found[0]:
        raise FhirError(
            Problem.UNPROCESSABLE,
            f"{selector.role}-patient Patient/{selector.reference_id} does not carry the identifier(s) "
            f"{shown}",
            expression,
        )
    return found[0]


def _merged_away(store: SecuredStore, patient_id: str) -> bool:
    version = store.read("Patient", patient_id)
    return version is not None and version.resource is not None and replaced_by(version.resource) is not None


def _live_patient(writer: SecuredStore, patient_id: str, role: str) -> ResourceVersion:
    version = writer.read("Patient", patient_id)
    if version is None:
        raise FhirError(
            Problem.NOT_FOUND,
            f"The {role} Patient/{patient_id} does not exist",
            [f"Parameters.parameter.where(name='{role}-patient')"],
        )
    if version.deleted or version.resource is None:
        raise FhirError(Problem.GONE, f"The {role} Patient/{patient_id} was deleted")
    return version


def _require_merge_scopes(store: SecuredStore) -> None:
    store.require("update", "Patient")
    needed: tuple[Action, ...] = ("search", "update")
    for action in needed:
        store.require(action, "ImagingStudy")
        if not store.unrestricted(action, "ImagingStudy"):
            raise FhirError(
                Problem.FORBIDDEN,
                f"{NAME} moves every ImagingStudy of the source, so it needs {action} access to all "
                "ImagingStudy resources (an admin user, or system/ImagingStudy.cruds)",
            )


def _studies_of(store: SecuredStore, writer: SecuredStore, source_id: str) -> list[ResourceVersion]:
    studies = []
    for study_id in store.find_ids("ImagingStudy", f"patient=Patient/{source_id}"):
        version = writer.read("ImagingStudy", study_id)
        if version is not None and not version.deleted and version.resource is not None:
            studies.append(version)
    return studies


def _with_link(links: Any, other_id: str, link_type: str) -> list[JsonObject]:
    kept = [link for link in links or [] if isinstance(link, dict)]
    reference = f"Patient/{other_id}"
    if not any(
        (link.get("other") or {}).get("reference") == reference and link.get("type") == link_type
        for link in kept
    ):
        kept.append({"other": {"reference": reference}, "type": link_type})
    return kept


def _copied_identifiers(
    source: JsonObject, target: JsonObject, national_system: str
) -> tuple[list[JsonObject], list[Issue]]:
    present = {(i.get("system"), i.get("value")) for i in target.get("identifier") or []}
    target_nationals = {v for s, v in present if s == national_system}
    copied: list[JsonObject] = []
    notes: list[Issue] = []
    for identifier in source.get("identifier") or []:
        key = (identifier.get("system"), identifier.get("value"))
        if key in present or not identifier.get("value"):
            continue
        present.add(key)
        if identifier.get("system") == national_system and not target_nationals:
            copied.append(dict(identifier))
        else:
            copied.append({**identifier, "use": "old"})
            if identifier.get("system") == national_system:
                notes.append(
                    Issue(
                        "warning",
                        "business-rule",
                        f"The source and the target have different national IDs ({identifier['value']} "
                        f"and {', '.join(sorted(target_nationals))}): the source's is kept on the target "
                        "with use 'old'; check that they are one person",
                    )
                )
        notes.append(
            Issue(
                "information",
                "informational",
                f"The target gains identifier {key[0] or ''}|{key[1]} from the source",
            )
        )
    return copied, notes


def _result_patient(result: JsonObject, target: JsonObject, target_id: str) -> JsonObject:
    where = "Parameters.parameter.where(name='result-patient').resource"
    if result.get("id") != target_id:
        raise FhirError(
            Problem.INVALID,
            f"result-patient must be the target (id {target_id!r}), not id {result.get('id')!r}",
            [f"{where}.id"],
        )
    offered = {
        (i.get("system"), i.get("value")) for i in result.get("identifier") or [] if isinstance(i, dict)
    }
    missing = [
        f"{i.get('system') or ''}|{i.get('value')}"
        for i in target.get("identifier") or []
        if (i.get("system"), i.get("value")) not in offered
    ]
    if missing:
        raise FhirError(
            Problem.INVALID,
            f"result-patient must keep every identifier of the target; missing: {', '.join(missing)}",
            [f"{where}.identifier"],
        )
    return content(result)


def _outcome(plan: MergePlan, preview: bool) -> list[Issue]:
    count = len(plan.studies)
    studies = f"{count} ImagingStudy resource{'s' if count != 1 else ''}"
    if preview:
        head = (
            f"Preview only, nothing was written: {plan.source_ref} would be merged into {plan.target_ref}; "
            f"{studies} would be moved to {plan.target_ref}; {plan.source_ref} would become inactive "
            f"(link replaced-by {plan.target_ref})"
        )
    else:
        head = (
            f"{plan.source_ref} was merged into {plan.target_ref}: {studies} moved to {plan.target_ref}; "
            f"{plan.source_ref} is inactive (link replaced-by {plan.target_ref})"
        )
    verb = "would move" if preview else "moved"
    moves = [
        Issue(
            "information",
            "informational",
            f"{study.reference}: subject {plan.source_ref} {verb} to {plan.target_ref}",
        )
        for study in plan.studies
    ]
    return [Issue("information", "informational", head), *moves, *plan.notes]


def _changed_meanwhile() -> FhirError:
    return FhirError(
        Problem.CONFLICT,
        f"A Patient or ImagingStudy of this {NAME} was changed while merging; nothing was changed: retry",
    )
