"""The viewer's install check and the shell and configuration the server makes of OHIF's build (no server
needed): a tampered tarball is refused; the served shell allows exactly its own inline scripts; the
configuration names no other origin."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import httpx
import pytest

from fhir_server.settings import Settings
from fhir_server.viewer import ViewerInstallError, install_viewer, installed_version, viewer_dir
from fhir_server.viewer.ohif_config import app_config_js
from fhir_server.viewer.page import shell
from tests.server_process import start_server


def test_a_tarball_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "ohif-app.tgz"
    index = b"<html><script>fetch('https://evil.example')</script></html>"
    with tarfile.open(fake, "w:gz") as tar:
        info = tarfile.TarInfo("package/dist/index.html")
        info.size = len(index)
        tar.addfile(info, io.BytesIO(index))
    target = tmp_path / "viewer"
    with pytest.raises(ViewerInstallError, match="integrity"):
        install_viewer(target, fake)
    assert not target.exists() and installed_version(target) is None


def test_configuration_names_only_this_origin() -> None:
    config = app_config_js().decode()
    assert "cloudfront" not in config
    assert not re.findall(r"https?://", config)
    assert config.count('location.origin + "/dicomweb/federated"') == 3
    assert '"routerBasename": "/viewer"' in config


def test_the_installed_shell_allows_only_its_own_scripts() -> None:
    root = viewer_dir(Settings())
    if installed_version(root) is None:
        pytest.fail("run `fhir-server install-viewer` first", pytrace=False)
    page = shell(root / "index.html")
    html = page.html.decode()
    csp = dict(part.split(" ", 1) for part in page.content_security_policy.split("; "))
    scripts = csp["script-src"].split()
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert "'wasm-unsafe-eval'" in scripts
    assert len([s for s in scripts if s.startswith("'sha256-")]) >= 1
    assert csp["connect-src"] == "'self'" and csp["default-src"] == "'self'"
    assert "init-service-worker" not in html
    assert not re.findall(r'(?:src|href)="/(?!viewer/)', html)
    assert 'window.PUBLIC_URL="/viewer/"' in html
    bundles = list(root.glob("app.bundle.*.js"))
    assert bundles and b'__webpack_require__.p = "/viewer/";' in bundles[0].read_bytes()
    packed = bundles[0].with_name(bundles[0].name + ".gz")
    assert packed.is_file() and packed.stat().st_size < bundles[0].stat().st_size / 3


def test_without_the_viewer_the_server_runs_and_says_how_to_install_it(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "data", env={"FHIR_AUTH_MODE": "smart", "FHIR_VIEWER_DIR": str(tmp_path / "no-viewer")}
    )
    try:
        origin = server.base_url.removesuffix("/fhir")
        page = httpx.get(f"{origin}/viewer/", timeout=30)
        assert page.status_code == 503
        assert "fhir-server install-viewer" in page.text
        assert httpx.get(f"{server.base_url}/metadata", timeout=30).status_code == 200
        # The launcher and its configuration do not depend on the installed build.
        assert httpx.get(f"{origin}/viewer/IHEInvokeImageDisplay", timeout=30).status_code == 200
    finally:
        server.stop()
