"""The tests build their DICOM studies with the same code as the demo data set."""

from fhir_server.demo.dicom_samples import SamplePatient, SampleSeries, make_study, to_bytes, write_files

__all__ = ["SamplePatient", "SampleSeries", "make_study", "to_bytes", "write_files"]
