#!/usr/bin/env bash
# Install everything and run the server with demo data on the embedded database.
set -euo pipefail
cd "$(dirname "$0")/.."

# The port first: a busy one fails now, not after minutes of installing and loading.
host=${FHIR_HOST:-127.0.0.1}
port=${FHIR_PORT:-8080}
args=("$@")
for i in "${!args[@]}"; do
  case "${args[$i]}" in
    --port) port=${args[$((i + 1))]:-$port} ;;
    --port=*) port=${args[$i]#--port=} ;;
    --host) host=${args[$((i + 1))]:-$host} ;;
    --host=*) host=${args[$i]#--host=} ;;
  esac
done
if ! python3 - "$host" "$port" <<'PY'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    sock.bind((host, port))
    sock.listen(1)
except OSError as exc:
    print(f"error: cannot listen on {host}:{port}: {exc.strerror}. Choose another port: "
          f"FHIR_PORT={port + 1} bash scripts/run.sh (or pass --port N)", file=sys.stderr)
    sys.exit(2)
PY
then
  exit 2
fi

bash scripts/bootstrap.sh
exec .venv/bin/fhir-server serve --demo --data-dir "${FHIR_DATA_DIR:-./data}" "$@"
