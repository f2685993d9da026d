#!/usr/bin/env bash
# Creates ./.venv with this project installed (plus test tools with --test), installing the Debian
# packages it needs when they are missing and we are root (CI, fresh machines).
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "Missing Debian packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})" >&2
    return 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt_install python3-venv
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "$want_test" = 1 ]; then
  # The tests run real Orthanc servers (two hospitals) with the DICOMweb plugin, decode QR codes with
  # zbar, and drive Debian's Chromium with Playwright (never a downloaded browser).
  apt_install orthanc orthanc-dicomweb libzbar0 chromium
  .venv/bin/python -m pip install -q -e '.[test]'
else
  # The demo uploads real DICOM studies to one local Orthanc per demo hospital; without Orthanc it still
  # loads the FHIR data and says that the images are missing.
  apt_install orthanc orthanc-dicomweb || echo "Orthanc not installed: the demo will have no images" >&2
  .venv/bin/python -m pip install -q -e .
fi
# The image viewer (OHIF, from npm, pinned and integrity-checked; Debian nodejs/npm when missing). The server
# runs without it (then /viewer/ says how to install it).
.venv/bin/fhir-server install-viewer || echo "The image viewer is not installed (fhir-server install-viewer)" >&2
