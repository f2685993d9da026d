"""The scope-enforcing DICOMweb proxy in front of every hospital's Orthanc."""
