"""`fhir-server install-viewer`: the OHIF Viewer (npm `@ohif/app`, MIT), at a pinned version checked by its
integrity hash, unpacked into the viewer directory (fhir_server.viewer.location). Idempotent: a directory
holding this version is left alone. Nothing of it is committed to the repository.

npm fetches the package (`npm pack`, which honours the npm configuration: registry, proxy, cache); Debian's
`nodejs` and `npm` are installed when npm is missing and we run as root. The tarball's SHA-512 must equal the
registry's `dist.integrity` recorded here, or nothing is installed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from fhir_server.viewer.page import PREFIX

PACKAGE = "@ohif/app"
VERSION = "3.13.2"
# `npm view @ohif/app@3.13.2 dist.integrity`
INTEGRITY = "sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA=="
MARKER = "fhir-viewer.json"
# What install does to the build besides unpacking it (public path, precompression): a directory installed
# by an older layout is installed again.
LAYOUT = 2
_DIST = "package/dist/"
_NPM_TIMEOUT_SECONDS = 900


class ViewerInstallError(Exception):
    pass


def installed_version(directory: Path) -> str | None:
    try:
        marker = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if (
        isinstance(marker, dict)
        and marker.get("integrity") == INTEGRITY
        and marker.get("layout") == LAYOUT
        and (directory / "index.html").is_file()
    ):
        return str(marker.get("version"))
    return None


def install_viewer(directory: Path, tarball: Path | None = None) -> str:
    """Installs the pinned viewer into `directory` (from `tarball` if given, else through npm); returns what
    was done, for the command's output."""
    if installed_version(directory) == VERSION:
        return f"OHIF Viewer {VERSION} is already installed in {directory}"
    with tempfile.TemporaryDirectory(prefix="fhir-viewer-") as work:
        archive = tarball or _npm_pack(Path(work))
        check_integrity(archive)
        staging = Path(work) / "dist"
        _unpack_dist(archive, staging)
        (staging / MARKER).write_text(
            json.dumps({"package": PACKAGE, "version": VERSION, "integrity": INTEGRITY, "layout": LAYOUT})
        )
        directory.parent.mkdir(parents=True, exist_ok=True)
        old = directory.with_name(directory.name + ".old")
        if directory.exists():
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
        shutil.move(str(staging), directory)
        shutil.rmtree(old, ignore_errors=True)
    return f"OHIF Viewer {VERSION} installed in {directory}"


def check_integrity(archive: Path) -> None:
    algorithm, _, expected = INTEGRITY.partition("-")
    digest = hashlib.new(algorithm)
    with archive.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    if base64.b64encode(digest.digest()).decode() != expected:
        raise ViewerInstallError(f"{archive.name} does not match the pinned integrity of {PACKAGE}@{VERSION}")


def _npm_pack(work: Path) -> Path:
    npm = shutil.which("npm") or _install_npm()
    spec = f"{PACKAGE}@{VERSION}"
    try:
        done = subprocess.run(
            [npm, "pack", spec, "--json", "--pack-destination", str(work)],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ViewerInstallError(f"npm pack {spec} took longer than {_NPM_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        raise ViewerInstallError(f"npm pack {spec} failed: {done.stderr.strip()[-500:]}")
    archives = sorted(work.glob("*.tgz"))
    if len(archives) != 1:
        raise ViewerInstallError(f"npm pack {spec} produced no single tarball")
    return archives[0]


def _install_npm() -> str:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ViewerInstallError(
            "npm is missing: install Debian's nodejs and npm (apt-get install nodejs npm)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "nodejs", "npm"]):
        if subprocess.run(command, env=env, check=False).returncode != 0:
            raise ViewerInstallError(f"{' '.join(command)} failed")
    npm = shutil.which("npm")
    if npm is None:
        raise ViewerInstallError("npm is still missing after apt-get install nodejs npm")
    return npm


def _unpack_dist(archive: Path, target: Path) -> None:
    """Only the package's built `dist/`, as plain files (the `data` filter refuses links out of the target,
    absolute paths and device files)."""
    target.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as tar:
        members = []
        for member in tar.getmembers():
            if not member.name.startswith(_DIST) or not (member.isfile() or member.isdir()):
                continue
            member.name = member.name[len(_DIST) :]
            if member.name:
                members.append(member)
        tar.extractall(target, members=members, filter="data")
    if not (target / "index.html").is_file():
        raise ViewerInstallError(f"{PACKAGE}@{VERSION} has no dist/index.html")
    _set_public_path(target)
    _precompress(target)


# The build's webpack runtime loads code chunks, workers and codecs from "/" (its public path), wherever
# the page is: set to where we serve it.
_PUBLIC_PATH = b'__webpack_require__.p = "/";'


# Served gzip-encoded to browsers that accept it (fhir_server.viewer.routes): the main bundle is 17 MB.
PRECOMPRESSED = (".js", ".css", ".wasm", ".json", ".svg", ".html", ".map")
_MIN_PRECOMPRESS_BYTES = 1024


def _precompress(target: Path) -> None:
    for path in target.rglob("*"):
        if path.suffix in PRECOMPRESSED and path.is_file() and path.stat().st_size >= _MIN_PRECOMPRESS_BYTES:
            with path.open("rb") as source, gzip.open(path.with_name(path.name + ".gz"), "wb", 6) as packed:
                shutil.copyfileobj(source, packed)


def _set_public_path(target: Path) -> None:
    ours = f'__webpack_require__.p = "{PREFIX}";'.encode()
    for script in target.glob("*.js"):
        content = script.read_bytes()
        if _PUBLIC_PATH in content:
            script.write_bytes(content.replace(_PUBLIC_PATH, ours))
