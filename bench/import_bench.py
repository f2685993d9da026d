"""Legacy import throughput: a generated old-app database (default 20,000 studies) imported into the
embedded database through the same code as `fhir-server import-legacy`. Target: >= 2,000 resources/s.

    python bench/import_bench.py [--studies 20000] [--patients 5000] [--runs 3]

The embedded database's CPU is the ceiling (its search-index maintenance on every insert): mapping,
validation and indexing run in a second thread and overlap with it, so two cores are needed.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE hospitals (id TEXT PRIMARY KEY, name TEXT, address TEXT, phone TEXT, email TEXT,
        created_date TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE patients (id TEXT PRIMARY KEY, national_id TEXT UNIQUE, first_name TEXT, last_name TEXT,
        date_of_birth DATE, gender TEXT, phone TEXT, created_date TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE studies (id TEXT PRIMARY KEY, patient_id TEXT, hospital_id TEXT, study_date TIMESTAMP,
        modality TEXT, description TEXT, orthanc_study_id TEXT,
        created_date TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY(patient_id) REFERENCES patients(id), FOREIGN KEY(hospital_id) REFERENCES hospitals(id));
"""
MODALITIES = ["XR", "CT", "US", "CR", "", "ct", "DX", "MG", "X-Ray", "PET", "MR", "NM", "Ultrasound", "Other"]
GENDERS = ["M", "F", "U", "", "male", "Female", "O", None]


def generate(path: Path, studies: int, patients: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.executemany(
        "INSERT INTO hospitals (id, name, address, phone) VALUES (?,?,?,?)",
        [(f"HOS-{n:03d}", f"Hospital {n}", f"{n} Main St", "+255-22-000000") for n in range(1, 4)],
    )
    db.executemany(
        "INSERT INTO patients (id, national_id, first_name, last_name, date_of_birth, gender, phone) "
        "VALUES (?,?,?,?,?,?,?)",
        [
            (
                f"PAT-{n:07d}",
                f"{n:018d}",
                rng.choice(["John", "Amina", "Baraka", "Neema"]),
                rng.choice(["Doe", "Mwakyusa", "Kimaro", "Ali"]),
                rng.choice(
                    [f"19{rng.randint(30, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}", "", "15/01/1980"]
                ),
                rng.choice(GENDERS),
                "+255712000000",
            )
            for n in range(patients)
        ],
    )
    db.executemany(
        "INSERT INTO studies (id, patient_id, hospital_id, study_date, modality, description) "
        "VALUES (?,?,?,?,?,?)",
        [
            (
                f"STU-{n:09d}",
                f"PAT-{rng.randrange(patients):07d}",
                f"HOS-{rng.randint(1, 3):03d}",
                rng.choice(["2024-01-15 10:30:00", "2015-04-07T07:36:50", "2024-11-10", ""]),
                rng.choice(MODALITIES),
                rng.choice(["Chest X-Ray", "<b>CT</b> head", ""]),
            )
            for n in range(studies)
        ],
    )
    db.commit()
    db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=20_000)
    parser.add_argument("--patients", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=1, help="repeat on fresh data dirs; prints the medians")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "federation.db"
        generate(source, args.studies, args.patients)
        for run in range(args.runs):
            for label in ("first import", "second import (no changes)"):
                start = time.perf_counter()
                done = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "fhir_server",
                        "import-legacy",
                        str(source),
                        "--data-dir",
                        f"{tmp}/data-{run}",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                wall = time.perf_counter() - start
                line = next(x for x in done.stdout.splitlines() if x.startswith("resources:"))
                rates.setdefault(label, []).append(float(line.rsplit("=", 1)[1].strip().removesuffix("/s")))
                print(f"{label}: {line}  (whole command incl. start-up: {wall:.1f}s)", flush=True)
    if args.runs > 1:
        for label, values in rates.items():
            print(f"median of {args.runs}, {label}: {statistics.median(values):.0f}/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
