"""Smoke test of bench/load.py: `--quick` runs end to end and prints its table. No timing is asserted.

Opt-in (FHIR_BENCH_SMOKE=1): the quick run still takes about a minute and loads the machine, which would
slow the suite and disturb tests running next to it. Skipped when wrk is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server_process import REPO_ROOT

pytestmark = [
    pytest.mark.skipif(os.environ.get("FHIR_BENCH_SMOKE") != "1", reason="opt-in: FHIR_BENCH_SMOKE=1"),
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"),
]


def test_quick_run_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, "bench/load.py", "--quick", "--json", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "req/s" in done.stdout and "p99 ms" in done.stdout
    for line in ("read by id (1 worker)", "read by id (2 workers)", "federation query (1 worker)"):
        assert line in done.stdout
    assert "read by id (auth) / bare find_one" in done.stdout
    results = json.loads(out.read_text())
    assert {r["target"] for r in results["results"]} >= {"constant bytes (1 worker)", "create (1 worker)"}
    assert all(r["errors"] == 0 and r["requests"] > 0 for r in results["results"])
