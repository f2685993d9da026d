"""What `GET /admin/patient-matches` shows of a candidate: both Patients' demographics and identifiers and
their studies (with the hospital each is at), read as the caller through the secured store: a Patient the
caller may not see is shown as not visible, never guessed at."""

from __future__ import annotations

from typing import Any

from fhir_server.interactions.patient_links import replaced_by
from fhir_server.patients.candidates import Candidate
from fhir_server.security.access.store import SecuredStore, Shown
from fhir_server.type_aliases import JsonObject


class MatchView:
    def __init__(self, store: SecuredStore, national_system: str) -> None:
        self._store = store
        self._shown: Shown = store.showing()
        self._national_system = national_system
        self._hospitals: dict[str, str | None] = {}  # Endpoint id -> hospital name
        self._endpoints_readable = store.may("read", "Endpoint") and store.may("read", "Organization")

    def describe(self, candidate: Candidate) -> dict[str, Any]:
        return {
            **candidate.public_json(),
            "source": self._side(candidate.source),
            "target": self._side(candidate.target),
        }

    def record(self, description: str) -> None:
        """One AuditEvent for the patient data shown."""
        self._shown.record(description)

    def _side(self, patient_id: str) -> dict[str, Any]:
        reference = f"Patient/{patient_id}"
        version = self._store.read("Patient", patient_id)
        patient = version.resource if version is not None and not version.deleted else None
        if patient is None or not self._shown.visible("Patient", patient):
            return {"reference": reference, "visible": False, "studies": []}
        name = (patient.get("name") or [{}])[0]
        survivor = replaced_by(patient)
        return {
            "reference": reference,
            "visible": True,
            "name": _display_name(name),
            "birthDate": patient.get("birthDate"),
            "gender": patient.get("gender"),
            "active": patient.get("active", True),
            "replacedBy": f"Patient/{survivor}" if survivor else None,
            "nationalId": next(
                (
                    i.get("value")
                    for i in patient.get("identifier") or []
                    if i.get("system") == self._national_system
                ),
                None,
            ),
            "identifiers": [
                {k: i[k] for k in ("system", "value", "use") if k in i}
                for i in patient.get("identifier") or []
            ],
            "studies": self._studies(patient_id),
        }

    def _studies(self, patient_id: str) -> list[dict[str, Any]]:
        out = []
        for study_id in self._store.find_ids("ImagingStudy", f"patient=Patient/{patient_id}"):
            version = self._store.read("ImagingStudy", study_id)
            study = version.resource if version is not None else None
            if study is None or not self._shown.visible("ImagingStudy", study):
                continue
            out.append(
                {
                    "reference": f"ImagingStudy/{study_id}",
                    "started": study.get("started"),
                    "description": study.get("description"),
                    "modalities": sorted(
                        {m.get("code") for m in study.get("modality") or [] if m.get("code")}
                    ),
                    "hospital": self._hospital(study),
                }
            )
        return sorted(out, key=lambda s: s["started"] or "", reverse=True)

    def _hospital(self, study: JsonObject) -> str | None:
        if not self._endpoints_readable:
            return None
        endpoint_ref = str(((study.get("endpoint") or [{}])[0]).get("reference") or "")
        endpoint_id = endpoint_ref.rpartition("Endpoint/")[2]
        if not endpoint_id:
            return None
        if endpoint_id not in self._hospitals:
            self._hospitals[endpoint_id] = self._organization_name(endpoint_id)
        return self._hospitals[endpoint_id]

    def _organization_name(self, endpoint_id: str) -> str | None:
        endpoint = self._store.read("Endpoint", endpoint_id)
        if endpoint is None or endpoint.resource is None:
            return None
        organization_ref = str((endpoint.resource.get("managingOrganization") or {}).get("reference") or "")
        organization_id = organization_ref.rpartition("Organization/")[2]
        organization = self._store.read("Organization", organization_id) if organization_id else None
        if organization is None or organization.resource is None:
            return None
        name = organization.resource.get("name")
        return str(name) if name else organization_id


def _display_name(name: JsonObject) -> str | None:
    if name.get("text"):
        return str(name["text"])
    parts = [*(name.get("given") or []), name.get("family") or ""]
    text = " ".join(str(p) for p in parts if p).strip()
    return text or None
