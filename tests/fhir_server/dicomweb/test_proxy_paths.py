"""Only PS3.18 read-only resources reach Orthanc, each tied to the study it belongs to."""

from __future__ import annotations

import pytest

from fhir_server.dicomweb.proxy.paths import parse_target

S, R, N = "1.2.3", "1.2.3.4", "1.2.3.4.5"  # study, series, instance


@pytest.mark.parametrize(
    ("path", "study"),
    [
        ("studies", None),
        ("series", None),
        ("instances", None),
        (f"studies/{S}", S),
        (f"studies/{S}/metadata", S),
        (f"studies/{S}/rendered", S),
        (f"studies/{S}/series", S),
        (f"studies/{S}/instances", S),
        (f"studies/{S}/series/{R}", S),
        (f"studies/{S}/series/{R}/thumbnail", S),
        (f"studies/{S}/series/{R}/instances", S),
        (f"studies/{S}/series/{R}/instances/{N}", S),
        (f"studies/{S}/series/{R}/instances/{N}/metadata", S),
        (f"studies/{S}/series/{R}/instances/{N}/frames/1,2,3", S),
        (f"studies/{S}/series/{R}/instances/{N}/frames/1/rendered", S),
        (f"studies/{S}/series/{R}/instances/{N}/bulk/7fe00010", S),
    ],
)
def test_served(path: str, study: str | None) -> None:
    target = parse_target(path)
    assert target is not None and target.study_uid == study and target.path == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "system",
        "studies/..",
        f"studies/{S}/..",
        f"studies/{S}/series/../../system",
        "studies/1.2.x",
        f"studies/{'1.' * 40}1",
        f"studies/{S}/series/{R}/instances/{N}/frames/0",
        f"studies/{S}/series/{R}/instances/{N}/frames/1;2",
        f"studies/{S}/series/{R}/instances/{N}/bulk/../../x",
        f"studies/{S}/changes",
        "tools/find",
    ],
)
def test_refused(path: str) -> None:
    assert parse_target(path) is None
