"""The demo's multi-slice CT is a stack a radiologist can scroll through: every slice its own pixels and its
own position along the stack."""

from __future__ import annotations

from io import BytesIO

from pydicom import dcmread

from fhir_server.demo.dataset import demo_studies
from fhir_server.demo.dicom_samples import make_study, to_bytes


def test_ct_series_slices_differ_and_stack_up() -> None:
    (ct,) = [s for s in demo_studies() if s.legacy_id == "STU-20240220091500"]
    study = make_study(ct.patient, ct.series, description=ct.description, accession=ct.accession)
    by_series: dict[str, list] = {}
    for dataset in study:
        stored = dcmread(BytesIO(to_bytes(dataset)))  # as Orthanc receives it
        by_series.setdefault(str(stored.SeriesInstanceUID), []).append(stored)
    assert sorted(len(s) for s in by_series.values()) == [2, 3]
    for slices in by_series.values():
        assert len({s.PixelData for s in slices}) == len(slices)
        positions = [float(s.ImagePositionPatient[2]) for s in slices]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
        first, second = slices[0].pixel_array, slices[1].pixel_array
        assert first.shape == second.shape and (first != second).mean() > 0.2
