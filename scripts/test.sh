#!/usr/bin/env bash
# Install everything (Python packages and the Debian packages the tests use) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test
.venv/bin/ruff check .
.venv/bin/mypy  # files and strictness: [tool.mypy] in pyproject.toml
.venv/bin/lint-imports  # import contracts: [tool.importlinter] in pyproject.toml
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
# pytest's 5 means "no tests collected": that is a failure for us, never a pass.
exit $status
