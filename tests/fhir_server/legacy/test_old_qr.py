"""The old QR endpoints with old ids: the second GET returns the same link; the link expires
(FHIR_LEGACY_QR_DAYS, 90 by default) and its label says which old call made it, as the patient's link
list shows; the QR decodes to a link that opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fhir_server.shl.shl_client import bundle_ids, fetch_files, qr_text
from tests.server_process import SecuredServer

JOHN = "legacy-pat-901234"


@pytest.fixture(scope="module")
def clinician_token(legacy_server: SecuredServer) -> str:
    return legacy_server.mint("user/*.cruds", fhir_user="Practitioner/dr-qr")


def _link_id(response: httpx.Response) -> str:
    link = response.headers["link"]
    assert response.headers["deprecation"].startswith("@") and 'rel="successor-version"' in link
    return link.split("$shl-qr?id=", 1)[1].split(">", 1)[0]


def _listed(server: SecuredServer, token: str, link_id: str) -> dict[str, Any]:
    with server.client(token) as fhir:
        listing = fhir.get(f"/Patient/{JOHN}/$shl").json()
    for link in listing.get("parameter", []):
        parts = {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in link["part"]}
        if parts["id"] == link_id:
            return parts
    raise AssertionError(f"link {link_id} is not in the patient's list")


@pytest.mark.parametrize(
    ("path", "study"),
    [
        ("/api/patients/PAT-901234/qr", None),
        ("/api/studies/STU-20240220091500/qr", "legacy-stu-20240220091500"),
    ],
)
def test_old_qr_is_one_expiring_labelled_link(
    legacy_server: SecuredServer, clinician_token: str, path: str, study: str | None
) -> None:
    headers = {"Authorization": f"Bearer {clinician_token}"}
    first = httpx.get(legacy_server.origin + path, headers=headers, timeout=30)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/png"
    second = httpx.get(legacy_server.origin + path, headers=headers, timeout=30)
    assert _link_id(second) == _link_id(first)
    text = qr_text(first.content)
    assert qr_text(second.content) == text and "#shlink:/" in text
    assert bundle_ids(fetch_files(text))

    parts = _listed(legacy_server, clinician_token, _link_id(first))
    assert parts["status"] == "active"
    assert parts["label"] == f"Old app QR code: GET {path}"
    expires = datetime.fromisoformat(parts["expires"].replace("Z", "+00:00"))
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    if study:
        assert parts["study"] == {"reference": f"ImagingStudy/{study}"}
    else:
        assert parts["flag"] == "L"


def test_fhir_ids_reach_the_same_link_and_another_caller_gets_its_own(
    legacy_server: SecuredServer, clinician_token: str
) -> None:
    def link_of(token: str, path: str) -> str:
        response = httpx.get(
            legacy_server.origin + path, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert response.status_code == 200, response.text
        return _link_id(response)

    mine = link_of(clinician_token, "/api/patients/PAT-901234/qr")
    assert link_of(clinician_token, f"/api/patients/{JOHN}/qr") == mine
    other = legacy_server.mint("user/*.cruds", fhir_user="Practitioner/dr-other")
    assert link_of(other, "/api/patients/PAT-901234/qr") != mine


def test_unknown_old_ids_are_404(legacy_server: SecuredServer, clinician_token: str) -> None:
    headers = {"Authorization": f"Bearer {clinician_token}"}
    for path in ("/api/patients/PAT-000000/qr", "/api/studies/STU-19000101000000/qr"):
        response = httpx.get(legacy_server.origin + path, headers=headers, timeout=30)
        assert response.status_code == 404
        assert response.json()["resourceType"] == "OperationOutcome"
