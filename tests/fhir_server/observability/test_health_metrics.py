"""Health endpoints, Prometheus metrics and structured logs with request ids."""

from __future__ import annotations

import json

import httpx

from tests.server_process import RunningServer


def root(server: RunningServer) -> str:
    return server.base_url.removesuffix("/fhir")


def test_live_and_ready(server: RunningServer) -> None:
    assert httpx.get(f"{root(server)}/health/live").json() == {"status": "pass"}
    ready = httpx.get(f"{root(server)}/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["status"] == "pass"


def test_metrics_count_requests_per_interaction(server: RunningServer) -> None:
    httpx.get(f"{server.base_url}/Patient/metrics-probe")
    text = httpx.get(f"{root(server)}/metrics").text
    assert 'fhir_requests_total{interaction="read",status="404"}' in text
    assert "fhir_request_seconds_bucket" in text
    assert 'fhir_db_command_seconds_count{command="find"}' in text


def test_request_id_is_echoed_and_logged_as_json(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/metadata", headers={"X-Request-ID": "trace-abc-123"})
    assert response.headers["x-request-id"] == "trace-abc-123"
    generated = httpx.get(f"{server.base_url}/metadata").headers["x-request-id"]
    assert len(generated) == 32
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("request_id") == "trace-abc-123"]
    assert access and access[0]["msg"] == "request"
    assert access[0]["status"] == 200
    assert access[0]["interaction"] == "capabilities"


def test_head_requests_are_counted_under_their_interaction(server: RunningServer) -> None:
    """HEAD is answered as GET (fhir_server.api.head): the metrics still name the route it matched."""

    def counted() -> float:
        for line in httpx.get(f"{root(server)}/metrics").text.splitlines():
            if line.startswith('fhir_requests_total{interaction="$everything",status="404"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = counted()
    assert httpx.head(f"{server.base_url}/Patient/no-such-patient/$everything").status_code == 404
    assert counted() == before + 1
