"""The end user an authorization was granted by, with the launch context bound to the grant."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fhir_server.security.enforcement.policy import Role


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role
    fhir_user: str | None
    patient: str | None  # launch context: chosen in the picker, bound by an EHR launch, or the user's own
    auth_time: int
    need_patient_banner: bool = True  # false after an EHR launch: the EHR already shows the patient

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Principal:
        return cls(**doc)
