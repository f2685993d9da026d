"""Clients of each hospital's Orthanc: DICOMweb, REST, probes, STOW uploads."""
