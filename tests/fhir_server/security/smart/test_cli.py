"""`fhir-server token|client|user|launch|keys` on the data dir of a running server (and, for `token`, before
the server ever ran — see the `smart` fixture): the server accepts what the CLI mints and registers."""

from __future__ import annotations

import json

from tests.fhir_server.security.smart.smart_support import (
    HTTP,
    PATIENT_A,
    PATIENT_B,
    SmartServer,
    mint_with_cli,
    run_cli,
)


def _get(smart: SmartServer, path: str, token: str) -> int:
    return HTTP.get(f"{smart.base_url}{path}", headers={"Authorization": f"Bearer {token}"}).status_code


def test_token_minted_before_the_server_started_is_accepted(smart: SmartServer) -> None:
    assert _get(smart, f"/Patient/{PATIENT_A}", smart.early_cli_token) == 200


def test_token_minted_while_running_needs_no_audience(smart: SmartServer) -> None:
    token = mint_with_cli(smart.running.data_dir, "patient/*.rs", "--patient", PATIENT_A)
    assert _get(smart, f"/Patient/{PATIENT_A}", token) == 200
    assert _get(smart, f"/Patient/{PATIENT_B}", token) == 404  # outside its compartment: as absent


def test_keys_rotate_keeps_old_tokens_valid(smart: SmartServer) -> None:
    before = {k["kid"] for k in HTTP.get(smart.urls.jwks).json()["keys"]}
    run_cli("keys", "rotate", "--data-dir", str(smart.running.data_dir))
    after = {k["kid"] for k in HTTP.get(smart.urls.jwks).json()["keys"]}
    assert before < after  # the new key is published, the old ones stay until their tokens expired
    assert _get(smart, f"/Patient/{PATIENT_A}", smart.early_cli_token) == 200


def test_client_user_and_launch_registered_by_the_cli(smart: SmartServer) -> None:
    data = str(smart.running.data_dir)
    added = json.loads(
        run_cli(
            "client",
            "add",
            "--data-dir",
            data,
            "--id",
            "cli-app",
            "--kind",
            "confidential-symmetric",
            "--scope",
            "user/*.rs",
            "--redirect-uri",
            "https://app.example/cb",
        ).stdout
    )
    assert added["client_id"] == "cli-app" and len(added["client_secret"]) >= 32
    out = run_cli(
        "user",
        "add",
        "nurse",
        "--data-dir",
        data,
        "--role",
        "clinician",
        "--password-stdin",
        stdin="a long password\n",
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {
        "username": "nurse",
        "role": "clinician",
        "fhirUser": None,
        "name": None,
    }
    with smart.admin() as admin:
        assert "nurse" in {u["username"] for u in admin.get("/auth/admin/users").json()}
        assert "cli-app" in {c["client_id"] for c in admin.get("/auth/admin/clients").json()}
    launch = run_cli(
        "launch", "--data-dir", data, "--patient", PATIENT_A, "--client-id", "cli-app"
    ).stdout.strip()
    assert len(launch) >= 20
