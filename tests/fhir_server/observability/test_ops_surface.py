"""FHIR_PUBLIC_OPS_ENDPOINTS=true, the documented opt-out for a private network: a secured server serves
`/metrics` and `/health/orthanc` without a token, and nothing else opens with them. (Without the setting
both need an admin or `system/` token: tests/fhir_server/dicomweb/test_ops_surface.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.server_process import RunningServer, start_server


@pytest.fixture(scope="module")
def private_network_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"FHIR_AUTH_MODE": "smart", "FHIR_PUBLIC_OPS_ENDPOINTS": "true"}
    running = start_server(tmp_path_factory.mktemp("public-ops") / "data", env=env)
    yield running
    running.stop()


def test_opt_out_opens_metrics_and_pacs_health_only(private_network_server: RunningServer) -> None:
    base = private_network_server.base_url
    root = base.removesuffix("/fhir")
    metrics = httpx.get(f"{root}/metrics", timeout=30)
    assert metrics.status_code == 200 and "fhir_requests_total" in metrics.text
    orthanc = httpx.get(f"{root}/health/orthanc", timeout=30)
    assert orthanc.status_code == 200 and orthanc.json() == {"status": "pass", "hospitals": []}
    # FHIR data stays behind tokens.
    assert httpx.get(f"{base}/Patient", timeout=30).status_code == 401
