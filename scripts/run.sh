#!/usr/bin/env bash
# Install everything and run the server with demo data on the embedded database.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/fhir-server serve --demo --data-dir "${FHIR_DATA_DIR:-./data}" "$@"
