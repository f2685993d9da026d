"""No cache keeps patient data or tokens: `Cache-Control: no-store` and `Pragma: no-cache` on every response
under /fhir, /dicomweb, /auth, /shl, /app/api, /api and /admin, errors and preflights included (the
development server of the suite), a stricter header of a route kept, public assets left cacheable; and in
Debian's Chromium, a Patient fetched with a token is never what a later request without one gets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fhir_server.api.cache_control import needs_no_store, with_no_store
from fhir_server.settings import Settings
from fhir_server.storage.connection import connect
from tests.chromium import chromium
from tests.server_process import RunningServer, SecuredServer, start_server

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def assert_no_store(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    assert response.headers.get_list("cache-control") == ["no-store"], where
    assert response.headers.get("pragma") == "no-cache", where


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/fhir", True),
        ("/fhir/Patient/1", True),
        ("/fhir/metadata", True),
        ("/dicomweb/e/studies", True),
        ("/auth/token", True),
        ("/auth/static/auth.css", False),
        ("/shl/m/abc", True),
        ("/shl/viewer", True),
        ("/app/api/config", True),
        ("/app/static/app.css", False),
        ("/app/patients/1", False),
        ("/api/patients/1/qr", True),
        ("/admin/hospitals", True),
        ("/metrics", False),
        ("/fhirx", False),
    ],
)
def test_which_paths_get_no_store(path: str, expected: bool) -> None:
    assert needs_no_store(path) is expected


@pytest.mark.parametrize(
    ("given", "cache_control", "pragma"),
    [
        ([], [b"no-store"], [b"no-cache"]),
        ([(b"cache-control", b"max-age=60")], [b"no-store"], [b"no-cache"]),
        ([(b"Cache-Control", b"no-cache")], [b"no-store"], [b"no-cache"]),
        ([(b"cache-control", b"no-store, private")], [b"no-store, private"], [b"no-cache"]),
        ([(b"cache-control", b"private, NO-STORE")], [b"private, NO-STORE"], [b"no-cache"]),
        ([(b"pragma", b"no-cache")], [b"no-store"], [b"no-cache"]),
    ],
)
def test_a_stricter_header_is_kept_and_a_weaker_one_replaced(
    given: list[tuple[bytes, bytes]], cache_control: list[bytes], pragma: list[bytes]
) -> None:
    headers = with_no_store([(b"content-type", b"application/fhir+json"), *given])
    assert (b"content-type", b"application/fhir+json") in headers
    assert [v for k, v in headers if k.lower() == b"cache-control"] == cache_control
    assert [v for k, v in headers if k.lower() == b"pragma"] == pragma


def test_every_response_carrying_data_or_tokens_has_no_store(server: RunningServer) -> None:
    origin = server.base_url.removesuffix("/fhir")
    with httpx.Client(base_url=origin, timeout=30) as http:
        created = http.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON)
        assert created.status_code == 201
        patient = created.json()["id"]
        responses = [
            created,
            http.get("/fhir/metadata"),
            http.get(f"/fhir/Patient/{patient}"),
            http.get("/fhir/Patient", params={"_id": patient}),
            http.get(f"/fhir/Patient/{patient}/$everything"),
            http.get("/fhir/Patient/no-such-patient"),  # 404
            http.get("/fhir/Patient", params={"_count": "x"}),  # 400
            http.post("/fhir/Patient", content=b"x" * (11 * 1024 * 1024), headers=FHIR_JSON),  # 413
            http.options(  # a CORS preflight, answered by the middleware
                "/fhir/Patient",
                headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
            ),
            http.get("/fhir/.well-known/smart-configuration"),
            http.get("/dicomweb/no-such-endpoint/studies"),
            http.get("/auth/jwks"),  # the route says max-age=60: replaced
            http.get("/auth/authorize"),
            http.post("/auth/token", data={"grant_type": "client_credentials"}),
            http.get("/shl/viewer"),  # the route says no-cache: replaced
            http.post("/shl/m/no-such-manifest", json={"recipient": "test"}),
            http.get("/app/api/config"),
            http.get("/app/api/hospitals"),
            http.get(f"/api/patients/{patient}/qr"),
            http.get("/admin/hospitals"),
        ]
        assert {r.status_code for r in responses} >= {200, 201, 400, 404, 413}
        for response in responses:
            assert_no_store(response)
        # Public assets without patient data keep their own caching.
        assert http.get("/auth/static/auth.css").headers["cache-control"] == "public, max-age=3600"
        app_css = http.get("/app/static/app.css")
        assert app_css.headers["cache-control"] == "no-cache" and "pragma" not in app_css.headers


# -- in a browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smart_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredServer]:
    data_dir: Path = tmp_path_factory.mktemp("cache-control") / "data"
    running = start_server(data_dir, env={"FHIR_AUTH_MODE": "smart"})
    connection = connect(Settings(data_dir=data_dir), "cli")
    try:
        yield SecuredServer(running, connection)
    finally:
        connection.close()
        running.stop()


# Three later requests without the token: the default cache mode, one that takes any stored copy however
# stale (what a browser may do offline or on back/forward), and one that only looks into the cache.
FETCHES = """async ([url, token]) => {
    const withToken = await fetch(url, {headers: {Authorization: `Bearer ${token}`}});
    const record = await withToken.json();
    const plain = await fetch(url);
    const forced = await fetch(url, {cache: "force-cache"});
    let cached = "not in the cache";
    try {
        cached = (await fetch(url, {cache: "only-if-cached", mode: "same-origin"})).status;
    } catch (error) {}
    return {
        withToken: withToken.status, cacheControl: withToken.headers.get("cache-control"),
        resourceType: record.resourceType, plain: plain.status, forced: forced.status, cached,
    };
}"""


def test_browser_never_serves_a_patient_from_cache_without_the_token(smart_server: SecuredServer) -> None:
    token = smart_server.mint("user/*.cruds", fhir_user="Practitioner/dr-who")
    with smart_server.client(token) as clinician:
        created = clinician.post(
            "/Patient", json={"resourceType": "Patient", "name": [{"family": "Cached"}]}, headers=FHIR_JSON
        )
    assert created.status_code == 201, created.text
    url = f"{smart_server.base_url}/Patient/{created.json()['id']}"
    with chromium("the cache-control browser test") as browser:
        page = browser.new_page()
        page.goto(f"{smart_server.base_url}/metadata")  # a page of the same origin: fetches are same-origin
        result = page.evaluate(FETCHES, [url, token])
    assert result == {
        "withToken": 200,
        "cacheControl": "no-store",
        "resourceType": "Patient",
        "plain": 401,
        "forced": 401,
        "cached": "not in the cache",
    }
